//! POS sales and returns: the idempotent sale push (sequential and concurrent repeats apply
//! once), rejections that leave the rest of a push alone, negative stock after offline sales,
//! stored balance and points payments, returns (partial, complete, excessive, retried), device
//! revocation, and the snapshot = ledger invariant after every test.

use std::collections::HashMap;
use std::time::Instant;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;
use retail_testkit::server::approved_return;

pub(crate) fn new_id() -> String {
    Uuid::now_v7().to_string()
}

pub(crate) fn money(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

pub(crate) fn fen(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not money: {value}"));
    let (yuan, cents) = text.split_once('.').unwrap();
    yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

/// Registers a POS lane at `store` (as head office) and returns (device id, credential).
pub(crate) async fn register_lane(
    app: &TestApp,
    admin: &str,
    store: &str,
    name: &str,
) -> (String, String) {
    let id = new_id();
    let (status, body) = app
        .post(
            "/api/v1/devices",
            Some(admin),
            json!({"id": id, "location_id": store, "kind": "pos", "name": name}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (id, body["credential"].as_str().unwrap().to_owned())
}

/// The first `n` SKU ids stocked at SH001.
pub(crate) async fn sku_ids(app: &TestApp, admin: &str, n: usize) -> Vec<String> {
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

pub(crate) async fn on_hand(app: &TestApp, admin: &str, sku: &str) -> i64 {
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id=SH001&sku_id={sku}"),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"][0]["on_hand"].as_i64().unwrap()
}

async fn on_hands(app: &TestApp, admin: &str, skus: &[String]) -> Vec<i64> {
    let mut out = Vec::new();
    for sku in skus {
        out.push(on_hand(app, admin, sku).await);
    }
    out
}

/// A member by phone: (id, points, stored balance in fen).
pub(crate) async fn member(app: &TestApp, staff: &str, phone: &str) -> (String, i64, i64) {
    let (status, body) = app
        .post(
            "/api/v1/members/lookup",
            Some(staff),
            serde_json::json!({ "phone": phone }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["points"].as_i64().unwrap(),
        fen(&body["balance"]),
    )
}

async fn member_by_id(app: &TestApp, staff: &str, id: &str) -> (i64, i64, i64) {
    let (status, body) = app.get(&format!("/api/v1/members/{id}"), Some(staff)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["points"].as_i64().unwrap(),
        fen(&body["balance"]),
        body["growth"].as_i64().unwrap(),
    )
}

/// A sale at `store` of `lines` (sku, qty, unit price in fen), paid in cash unless `payments`
/// (method, amount in fen, points) are given.
pub(crate) fn sale(
    store: &str,
    member: Option<&str>,
    lines: &[(&str, i64, i64)],
    payments: &[(&str, i64, i64)],
) -> Value {
    let total: i64 = lines.iter().map(|(_, qty, unit)| qty * unit).sum();
    let lines: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, qty, unit))| {
            json!({"line_no": i + 1, "sku_id": sku, "barcode": "6900000000000", "name": format!("item {}", i + 1),
                   "qty": qty, "unit_price": money(*unit), "discount": "0.00", "amount": money(qty * unit)})
        })
        .collect();
    let payments: Vec<Value> = if payments.is_empty() {
        vec![json!({"id": new_id(), "method": "cash", "amount": money(total)})]
    } else {
        payments
            .iter()
            .map(|(method, amount, points)| json!({"id": new_id(), "method": method, "amount": money(*amount), "points": points}))
            .collect()
    };
    json!({
        "id": new_id(), "sale_no": "SH001-01-000001", "store": store, "cashier": "cashier1.sh001",
        "member_id": member, "lines": lines, "payments": payments,
        "subtotal": money(total), "discount": "0.00", "total": money(total),
        "completed_at": Utc::now().to_rfc3339(), "offline": false,
    })
}

/// `sale` with the member code its member showed at the till (valid for two minutes from now),
/// as a lane sends when the sale spends the member's balance, points or coupons.
pub(crate) fn with_member_code(app: &TestApp, mut sale: Value) -> Value {
    let member_id: Uuid = sale["member_id"].as_str().unwrap().parse().unwrap();
    sale["member_code"] = json!(app.sign(&retail_domain::codes::SignedCode::Member(
        retail_domain::codes::MemberCode {
            member_id,
            expires_at: Utc::now() + chrono::Duration::seconds(120),
        }
    )));
    sale
}

pub(crate) async fn push(app: &TestApp, lane: &str, sales: &[Value]) -> Vec<Value> {
    let (status, body) = app
        .post("/api/v1/pos/sales", Some(lane), json!({"sales": sales}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), sales.len());
    for (sale, result) in sales.iter().zip(&results) {
        assert_eq!(sale["id"], result["id"]);
    }
    results
}

pub(crate) async fn get_sale(app: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
    app.get(&format!("/api/v1/pos/sales/{id}"), Some(token))
        .await
}

async fn assert_ledger_consistent(app: &TestApp, admin: &str) {
    let (status, body) = app.get("/api/v1/stock/ledger-check", Some(admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]), "stock snapshot differs from its ledger");
}

/// (a) The same batch pushed three times in a row, and another batch pushed three times at once,
/// is applied exactly once: stock down once, points earned once, one order per sale, the
/// repeats answered `duplicate` with the same order number and points.
async fn pushes_apply_exactly_once(app: TestApp) {
    let admin = app.login("admin").await;
    let cashier = app.login("cashier1.sh001").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let (_, lane2) = register_lane(&app, &admin, "SH001", "Lane 2").await;
    let skus = sku_ids(&app, &admin, 5).await;
    let (member_id, points_before, _) = member(&app, &cashier, "13800138001").await;
    let stock_before = on_hands(&app, &admin, &skus).await;

    let batch = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| {
                let lines = [
                    (skus[i % 5].as_str(), 1 + (i as i64 % 3), 1_234),
                    (skus[(i + 1) % 5].as_str(), 2, 350),
                ];
                sale(
                    "SH001",
                    (i % 2 == 0).then_some(member_id.as_str()),
                    &lines,
                    &[],
                )
            })
            .collect()
    };
    let expected_stock = |sales: &[Value], before: &[i64]| -> Vec<i64> {
        let mut after = before.to_vec();
        for s in sales {
            for line in s["lines"].as_array().unwrap() {
                let i = skus
                    .iter()
                    .position(|k| line["sku_id"] == json!(k))
                    .unwrap();
                after[i] -= line["qty"].as_i64().unwrap();
            }
        }
        after
    };

    // Sequentially.
    let first = batch(6);
    let applied = push(&app, &lane, &first).await;
    let mut earned = 0;
    for (s, r) in first.iter().zip(&applied) {
        assert_eq!(r["outcome"], "applied", "{r}");
        assert!(r["order_no"].as_str().unwrap().starts_with('S'), "{r}");
        assert!(r["error"].is_null());
        if s["member_id"].is_null() {
            assert_eq!(r["points_earned"], 0);
            assert!(r["points_balance"].is_null());
        } else {
            // 1 point per yuan paid (regular tier).
            let total = fen(&s["total"]);
            assert_eq!(r["points_earned"].as_i64().unwrap(), total / 100, "{r}");
            earned += total / 100;
        }
    }
    let (points_after, _, _) = member_by_id(&app, &cashier, &member_id).await;
    assert_eq!(points_after, points_before + earned);
    for r in applied.iter().filter(|r| !r["points_balance"].is_null()) {
        assert_eq!(r["points_balance"].as_i64().unwrap(), points_after);
    }
    for _ in 0..2 {
        let again = push(&app, &lane, &first).await;
        for (a, b) in applied.iter().zip(&again) {
            assert_eq!(b["outcome"], "duplicate", "{b}");
            assert_eq!(a["order_no"], b["order_no"]);
            assert_eq!(a["points_earned"], b["points_earned"]);
        }
    }
    // Another lane of the same store pushing the same sale also gets `duplicate`.
    let other = push(&app, &lane2, &first[..1]).await;
    assert_eq!(other[0]["outcome"], "duplicate");
    let stock_mid = on_hands(&app, &admin, &skus).await;
    assert_eq!(stock_mid, expected_stock(&first, &stock_before));
    assert_eq!(
        member_by_id(&app, &cashier, &member_id).await.0,
        points_after
    );

    // Concurrently (three connections; on PostgreSQL the later ones wait on the unique index).
    let second = batch(8);
    let (r1, r2, r3) = tokio::join!(
        push(&app, &lane, &second),
        push(&app, &lane, &second),
        push(&app, &lane2, &second)
    );
    let mut earned2 = 0;
    for i in 0..second.len() {
        let outcomes: Vec<&Value> = [&r1[i], &r2[i], &r3[i]]
            .into_iter()
            .map(|r| &r["outcome"])
            .collect();
        assert_eq!(
            outcomes.iter().filter(|o| **o == "applied").count(),
            1,
            "{outcomes:?}"
        );
        assert_eq!(
            outcomes.iter().filter(|o| **o == "duplicate").count(),
            2,
            "{outcomes:?}"
        );
        assert_eq!(r1[i]["order_no"], r2[i]["order_no"]);
        assert_eq!(r1[i]["order_no"], r3[i]["order_no"]);
        assert_eq!(r1[i]["points_earned"], r3[i]["points_earned"]);
        earned2 += r1[i]["points_earned"].as_i64().unwrap();
    }
    let (points_end, _, _) = member_by_id(&app, &cashier, &member_id).await;
    assert_eq!(points_end, points_after + earned2);
    assert_eq!(
        on_hands(&app, &admin, &skus).await,
        expected_stock(&second, &stock_mid)
    );

    // One order per sale, with one creation event.
    for (s, r) in second.iter().chain(&first).zip(r1.iter().chain(&applied)) {
        let (status, view) = get_sale(&app, &lane, s["id"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["order_no"], r["order_no"]);
        assert_eq!(view["status"], "completed");
        assert_eq!(view["channel"], "pos");
        assert_eq!(view["total"], s["total"]);
        assert_eq!(view["events"].as_array().unwrap().len(), 1, "{view}");
        assert_eq!(view["lines"].as_array().unwrap().len(), 2);
        assert_eq!(view["returns"], json!([]));
    }
    assert_ledger_consistent(&app, &admin).await;
}
crate::both_backends!(pushes_apply_exactly_once, pushes_apply_exactly_once);

/// (b) Bad sales are rejected with a reason and change nothing; the good ones of the same push
/// are applied. Also: a push from a lane of another store, and a copy inside one push.
async fn bad_sales_are_rejected_alone(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let before = on_hands(&app, &admin, &skus).await;

    let good1 = sale("SH001", None, &[(&skus[0], 1, 500)], &[]);
    let wrong_store = sale("SH002", None, &[(&skus[0], 1, 500)], &[]);
    let unknown_sku_id = new_id();
    let unknown_sku = sale(
        "SH001",
        None,
        &[(&skus[0], 1, 500), (&unknown_sku_id, 1, 100)],
        &[],
    );
    let mut bad_total = sale("SH001", None, &[(&skus[1], 2, 500)], &[]);
    bad_total["total"] = json!("9.00");
    let mut bad_payments = sale("SH001", None, &[(&skus[1], 2, 500)], &[]);
    bad_payments["payments"][0]["amount"] = json!("9.99");
    let mut zero_qty = sale("SH001", None, &[(&skus[1], 1, 500)], &[]);
    zero_qty["lines"][0]["qty"] = json!(0);
    let mut future = sale("SH001", None, &[(&skus[1], 1, 500)], &[]);
    future["completed_at"] = json!((Utc::now() + chrono::Duration::minutes(30)).to_rfc3339());
    let mut v4 = sale("SH001", None, &[(&skus[1], 1, 500)], &[]);
    v4["id"] = json!("6f1c2a40-7b3e-4c6d-9e8f-0a1b2c3d4e5f");
    let unknown_member = sale("SH001", Some(&new_id()), &[(&skus[1], 1, 500)], &[]);
    let good2 = sale("SH001", None, &[(&skus[1], 3, 200)], &[]);

    let sales = vec![
        good1.clone(),
        wrong_store.clone(),
        unknown_sku.clone(),
        bad_total.clone(),
        bad_payments,
        zero_qty,
        future,
        v4,
        unknown_member,
        good2.clone(),
        good1.clone(),
    ];
    let results = push(&app, &lane, &sales).await;
    let outcomes: Vec<&str> = results
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "applied",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "applied",
            "duplicate"
        ],
        "{results:?}"
    );
    let error = |i: usize| results[i]["error"].as_str().unwrap().to_owned();
    assert!(
        error(1).contains("sale belongs to store SH002"),
        "{}",
        error(1)
    );
    assert!(error(2).contains("unknown SKU"), "{}", error(2));
    assert!(error(3).contains("total"), "{}", error(3));
    assert!(error(4).contains("payments"), "{}", error(4));
    assert!(error(5).contains("qty"), "{}", error(5));
    assert!(error(6).contains("future"), "{}", error(6));
    assert!(error(7).contains("UUIDv7"), "{}", error(7));
    assert!(error(8).contains("unknown member"), "{}", error(8));
    for r in &results[1..9] {
        assert!(r["order_no"].is_null());
    }
    assert_eq!(results[10]["order_no"], results[0]["order_no"]);
    assert_eq!(
        on_hands(&app, &admin, &skus).await,
        vec![before[0] - 1, before[1] - 3]
    );
    for rejected in [&wrong_store, &unknown_sku, &bad_total] {
        let (status, _) = get_sale(&app, &admin, rejected["id"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    // A sale stored already is answered `duplicate` even when its re-push no longer validates.
    let mut corrupted = good1.clone();
    corrupted["total"] = json!("0.01");
    let results = push(&app, &lane, &[corrupted]).await;
    assert_eq!(results[0]["outcome"], "duplicate", "{:?}", results[0]);
    assert!(results[0]["order_no"].is_string());

    // A lane of SH002 may not push (or read) SH001's sales.
    let (_, lane_sh002) = register_lane(&app, &admin, "SH002", "Lane 1").await;
    let results = push(&app, &lane_sh002, std::slice::from_ref(&good1)).await;
    assert_eq!(results[0]["outcome"], "rejected");
    let (status, _) = get_sale(&app, &lane_sh002, good1["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Staff may not push; too many sales is refused as a whole.
    let (status, _) = app
        .post("/api/v1/pos/sales", Some(&admin), json!({"sales": []}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let many: Vec<Value> = (0..501)
        .map(|_| sale("SH001", None, &[(&skus[0], 1, 100)], &[]))
        .collect();
    let (status, body) = app
        .post("/api/v1/pos/sales", Some(&lane), json!({"sales": many}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app
        .post_raw(
            "/api/v1/pos/sales",
            Some(&lane),
            "{\"sales\": [{\"id\": 1}]}",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        on_hands(&app, &admin, &skus).await,
        vec![before[0] - 1, before[1] - 3]
    );
    assert_ledger_consistent(&app, &admin).await;
}
crate::both_backends!(bad_sales_are_rejected_alone, bad_sales_are_rejected_alone);

/// (c) An offline sale is never refused for stock: on hand goes negative and is flagged.
async fn sales_may_drive_stock_negative(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    let before = on_hand(&app, &admin, &sku).await;
    let mut offline = sale("SH001", None, &[(&sku, before + 5, 100)], &[]);
    offline["offline"] = json!(true);
    offline["completed_at"] = json!((Utc::now() - chrono::Duration::hours(30)).to_rfc3339());
    let results = push(&app, &lane, std::slice::from_ref(&offline)).await;
    assert_eq!(results[0]["outcome"], "applied", "{:?}", results[0]);
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id=SH001&sku_id={sku}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"][0]["on_hand"], -5);
    assert_eq!(body["items"][0]["needs_reconciliation"], true);
    let (_, view) = get_sale(&app, &lane, offline["id"].as_str().unwrap()).await;
    assert_eq!(view["events"][0]["reason"], "pos sale (offline)");
    // The server number carries the sale's own date.
    let date = (Utc::now() - chrono::Duration::hours(30))
        .format("%Y%m%d")
        .to_string();
    assert!(
        view["order_no"]
            .as_str()
            .unwrap()
            .starts_with(&format!("S{date}-")),
        "{view}"
    );
    assert_ledger_consistent(&app, &admin).await;
}
crate::both_backends!(
    sales_may_drive_stock_negative,
    sales_may_drive_stock_negative
);

/// (d) A partial return, then the rest: refunds add up to the line amounts, stock comes back,
/// points are reversed, the order ends `refunded`. Returning more than sold is a 409 that
/// changes nothing; a retried return answers the first result.
async fn returns_partial_then_rest(app: TestApp) {
    let admin = app.login("admin").await;
    let cashier = app.login("cashier1.sh001").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let (member_id, points_start, _) = member(&app, &cashier, "13800138001").await;
    let (_, _, growth_start) = member_by_id(&app, &cashier, &member_id).await;
    let before = on_hands(&app, &admin, &skus).await;

    // Line 1: 3 × 3.33 + a 0.01 rounding = 10.00 → refunds 3.33, 3.33, 3.34. Line 2: 1 × 25.50.
    let mut s = sale(
        "SH001",
        Some(&member_id),
        &[(&skus[0], 3, 333), (&skus[1], 1, 2_550)],
        &[],
    );
    s["lines"][0]["amount"] = json!("10.00");
    s["subtotal"] = json!("35.50");
    s["total"] = json!("35.50");
    s["payments"][0]["amount"] = json!("35.50");
    let results = push(&app, &lane, std::slice::from_ref(&s)).await;
    assert_eq!(results[0]["outcome"], "applied", "{:?}", results[0]);
    assert_eq!(results[0]["points_earned"], 35);
    let sale_id = s["id"].as_str().unwrap();
    assert_eq!(
        member_by_id(&app, &cashier, &member_id).await.0,
        points_start + 35
    );

    // Partial: one unit of line 1.
    let first_id = new_id();
    let first = json!({"id": first_id, "order_id": sale_id, "lines": [{"line_no": 1, "qty": 1}], "reason": "damaged"});
    let (status, r1) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(first.clone(), "SH001"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r1}");
    assert_eq!(r1["return_id"], json!(first_id));
    assert_eq!(r1["refund"], "3.33");
    assert_eq!(r1["tender_refund"], "3.33");
    assert_eq!(
        r1["lines"],
        json!([{"line_no": 1, "qty": 1, "refund": "3.33"}])
    );
    // floor(35 × 3.33 / 35.50) = 3 points back.
    assert_eq!(r1["points_reversed"], 3);
    assert_eq!(on_hand(&app, &admin, &skus[0]).await, before[0] - 3 + 1);
    assert_eq!(
        member_by_id(&app, &cashier, &member_id).await.0,
        points_start + 35 - 3
    );

    // A retry answers the first result and changes nothing (even with other lines).
    let mut retry = first.clone();
    retry["lines"] = json!([{"line_no": 2, "qty": 1}]);
    let (status, again) = app
        .post(
            "/api/v1/returns",
            Some(&cashier),
            approved_return(retry, "SH001"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, r1);
    assert_eq!(on_hand(&app, &admin, &skus[0]).await, before[0] - 2);
    assert_eq!(on_hand(&app, &admin, &skus[1]).await, before[1] - 1);

    // More than is left: 409, nothing changed.
    let (status, body) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(json!({"id": new_id(), "order_id": sale_id, "lines": [{"line_no": 2, "qty": 1}, {"line_no": 1, "qty": 3}]}), "SH001"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "return_exceeds_sale");
    let (status, body) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(
                json!({"id": new_id(), "order_id": sale_id, "lines": [{"line_no": 9, "qty": 1}]}),
                "SH001",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        on_hands(&app, &admin, &skus).await,
        vec![before[0] - 2, before[1] - 1]
    );
    assert_eq!(
        member_by_id(&app, &cashier, &member_id).await.0,
        points_start + 35 - 3
    );
    let (_, view) = get_sale(&app, &cashier, sale_id).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["lines"][0]["returned_qty"], 1);
    assert_eq!(view["lines"][1]["returned_qty"], 0);
    assert_eq!(view["returns"].as_array().unwrap().len(), 1);

    // Another store's staff may not return it; a v4 id is refused.
    let mgr2 = app.login("mgr.sh002").await;
    let rest = json!({"id": new_id(), "order_id": sale_id, "lines": [{"line_no": 1, "qty": 2}, {"line_no": 2, "qty": 1}]});
    let (status, _) = app.post("/api/v1/returns", Some(&mgr2), rest.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut v4 = rest.clone();
    v4["id"] = json!("6f1c2a40-7b3e-4c6d-9e8f-0a1b2c3d4e5f");
    let (status, _) = app
        .post(
            "/api/v1/returns",
            Some(&cashier),
            approved_return(v4, "SH001"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The rest (by staff): the last units of line 1 refund exactly what is left of it.
    let (status, r2) = app
        .post(
            "/api/v1/returns",
            Some(&cashier),
            approved_return(rest.clone(), "SH001"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r2}");
    assert_eq!(r2["refund"], "32.17");
    assert_eq!(
        r2["lines"],
        json!([{"line_no": 1, "qty": 2, "refund": "6.67"}, {"line_no": 2, "qty": 1, "refund": "25.50"}])
    );
    assert_eq!(fen(&r1["refund"]) + fen(&r2["refund"]), 3_550);
    assert_eq!(r2["points_reversed"], 32);
    assert_eq!(on_hands(&app, &admin, &skus).await, before);
    let (points, _, growth) = member_by_id(&app, &cashier, &member_id).await;
    assert_eq!(points, points_start);
    assert_eq!(growth, growth_start);

    let (status, view) = get_sale(&app, &lane, sale_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "refunded");
    let events: Vec<&str> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["completed", "after_sale", "refunded"]);
    let returns = view["returns"].as_array().unwrap();
    assert_eq!(returns.len(), 2);
    assert_eq!(returns[0], r1);
    assert_eq!(returns[1], r2);
    assert_eq!(view["lines"][0]["returned_qty"], 3);

    // Nothing left to return; a retry of the last return still answers it.
    let (status, body) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(
                json!({"id": new_id(), "order_id": sale_id, "lines": [{"line_no": 1, "qty": 1}]}),
                "SH001",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, again) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(rest, "SH001"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, r2);
    // The same return id on another order is refused.
    let other = sale("SH001", None, &[(&skus[0], 1, 100)], &[]);
    push(&app, &lane, std::slice::from_ref(&other)).await;
    let (status, body) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(json!({"id": first_id, "order_id": other["id"], "lines": [{"line_no": 1, "qty": 1}]}), "SH001"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "id_in_use");

    // The refunds are audited.
    let (status, audit) = app
        .get(&format!("/api/v1/audit?entity_id={sale_id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let refunds = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "refund")
        .count();
    assert_eq!(refunds, 2, "{audit}");
    assert_ledger_consistent(&app, &admin).await;
}
crate::both_backends!(returns_partial_then_rest, returns_partial_then_rest);

/// Stored balance and points payments: charged once (idempotently by payment id), refused when
/// the member cannot cover them, and given back proportionally by returns.
async fn balance_and_points_payments(app: TestApp) {
    let admin = app.login("admin").await;
    let cashier = app.login("cashier1.sh001").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 2).await;
    // 王芳: 350 points, ¥50.00 stored balance, silver tier (×1.2).
    let (member_id, points0, balance0) = member(&app, &cashier, "13800138002").await;
    let (_, _, growth0) = member_by_id(&app, &cashier, &member_id).await;

    // ¥20.00: ¥5.00 stored balance, 300 points (¥3.00), ¥12.00 cash.
    let s = sale(
        "SH001",
        Some(&member_id),
        &[(&skus[0], 4, 500)],
        &[
            ("stored_balance", 500, 0),
            ("points", 300, 300),
            ("cash", 1_200, 0),
        ],
    );
    // A lane credential alone cannot spend the member's balance and points: the member code
    // they showed must come with the sale.
    let results = push(&app, &lane, std::slice::from_ref(&s)).await;
    assert_eq!(results[0]["outcome"], "rejected", "{:?}", results[0]);
    assert!(results[0]["error"]
        .as_str()
        .unwrap()
        .contains("member code"));
    let mut forged = s.clone();
    forged["member_code"] = json!("MC1.forged");
    let results = push(&app, &lane, std::slice::from_ref(&forged)).await;
    assert_eq!(results[0]["outcome"], "rejected", "{:?}", results[0]);
    let (points_unchanged, balance_unchanged, _) = member_by_id(&app, &cashier, &member_id).await;
    assert_eq!((points_unchanged, balance_unchanged), (points0, balance0));
    let s = with_member_code(&app, s);
    let results = push(&app, &lane, std::slice::from_ref(&s)).await;
    assert_eq!(results[0]["outcome"], "applied", "{:?}", results[0]);
    // Earned on ¥17.00 (not the part paid with points): 17 × 1.2 = 20.
    assert_eq!(results[0]["points_earned"], 20);
    assert_eq!(results[0]["points_balance"], points0 - 300 + 20);
    let again = push(&app, &lane, std::slice::from_ref(&s)).await;
    assert_eq!(again[0]["outcome"], "duplicate");
    let (points1, balance1, _) = member_by_id(&app, &cashier, &member_id).await;
    assert_eq!((points1, balance1), (points0 - 300 + 20, balance0 - 500));

    // More stored balance than the member has: rejected, nothing charged or stored.
    let too_much = with_member_code(
        &app,
        sale(
            "SH001",
            Some(&member_id),
            &[(&skus[1], 1, 10_000)],
            &[("stored_balance", 10_000, 0)],
        ),
    );
    let ok = sale("SH001", Some(&member_id), &[(&skus[1], 1, 1_000)], &[]);
    let stock1 = on_hand(&app, &admin, &skus[1]).await;
    let results = push(&app, &lane, &[too_much.clone(), ok]).await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap()
            .contains("stored balance"),
        "{:?}",
        results[0]
    );
    assert_eq!(results[1]["outcome"], "applied");
    assert_eq!(results[1]["points_earned"], 12);
    let (points2, balance2, _) = member_by_id(&app, &cashier, &member_id).await;
    assert_eq!((points2, balance2), (points1 + 12, balance1));
    assert_eq!(on_hand(&app, &admin, &skus[1]).await, stock1 - 1);
    let (status, _) = get_sale(&app, &admin, too_much["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Return half, then the rest: balance and points come back exactly, earned points go.
    let sale_id = s["id"].as_str().unwrap();
    let (status, r1) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(
                json!({"id": new_id(), "order_id": sale_id, "lines": [{"line_no": 1, "qty": 2}]}),
                "SH001",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r1}");
    assert_eq!(r1["refund"], "10.00");
    assert_eq!(r1["balance_refunded"], "2.50");
    assert_eq!(r1["points_refunded"], 150);
    assert_eq!(r1["tender_refund"], "6.00");
    assert_eq!(r1["points_reversed"], 10);
    let (status, r2) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(
                json!({"id": new_id(), "order_id": sale_id, "lines": [{"line_no": 1, "qty": 2}]}),
                "SH001",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r2}");
    assert_eq!(r2["balance_refunded"], "2.50");
    assert_eq!(r2["points_refunded"], 150);
    assert_eq!(r2["tender_refund"], "6.00");
    assert_eq!(r2["points_reversed"], 10);
    let (points3, balance3, growth3) = member_by_id(&app, &cashier, &member_id).await;
    assert_eq!(balance3, balance0);
    assert_eq!(points3, points0 + 12);
    // Growth: +17 for the first sale (taken back), +10 for the second.
    assert_eq!(growth3, growth0 + 10);
    let (_, view) = get_sale(&app, &cashier, sale_id).await;
    assert_eq!(view["status"], "refunded");
    assert_eq!(view["returns"][0], r1);
    assert_eq!(view["returns"][1], r2);
    assert_ledger_consistent(&app, &admin).await;
}
crate::both_backends!(balance_and_points_payments, balance_and_points_payments);

/// (e) A revoked lane cannot push; an edge agent cannot push or record returns.
async fn revoked_lane_cannot_push(app: TestApp) {
    let admin = app.login("admin").await;
    let (id, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 1).await;
    let before = on_hand(&app, &admin, &skus[0]).await;
    let s = sale("SH001", None, &[(&skus[0], 1, 100)], &[]);
    let (status, _) = app
        .post(
            &format!("/api/v1/devices/{id}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post("/api/v1/pos/sales", Some(&lane), json!({"sales": [s]}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = app
        .post("/api/v1/pos/sales", None, json!({"sales": []}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let edge_id = new_id();
    let (status, body) = app
        .post(
            "/api/v1/devices",
            Some(&admin),
            json!({"id": edge_id, "location_id": "SH001", "kind": "edge", "name": "Edge"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edge = body["credential"].as_str().unwrap().to_owned();
    let s = sale("SH001", None, &[(&skus[0], 1, 100)], &[]);
    let (status, _) = app
        .post(
            "/api/v1/pos/sales",
            Some(&edge),
            json!({"sales": [s.clone()]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/api/v1/returns",
            Some(&edge),
            json!({"id": new_id(), "order_id": s["id"], "lines": [{"line_no": 1, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(on_hand(&app, &admin, &skus[0]).await, before);
    assert_ledger_consistent(&app, &admin).await;
}
crate::both_backends!(revoked_lane_cannot_push, revoked_lane_cannot_push);

/// An offline backlog pushes in batches of 500 quickly (prints the rate; the bound is loose so a
/// slow CI machine does not fail it).
async fn backlog_pushes_fast(app: TestApp) {
    let admin = app.login("admin").await;
    let cashier = app.login("cashier1.sh001").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 5).await;
    let (member_id, _, _) = member(&app, &cashier, "13800138001").await;
    let total: usize = std::env::var("SALES_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let sales: Vec<Value> = (0..total)
        .map(|i| {
            let lines = [
                (skus[i % 5].as_str(), 1, 250),
                (skus[(i + 2) % 5].as_str(), 2, 199),
                (skus[(i + 3) % 5].as_str(), 1, 1_000),
            ];
            let mut s = sale(
                "SH001",
                (i % 3 == 0).then_some(member_id.as_str()),
                &lines,
                &[],
            );
            s["offline"] = json!(true);
            s
        })
        .collect();
    let before = on_hands(&app, &admin, &skus).await;
    let started = Instant::now();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for batch in sales.chunks(500) {
        for r in push(&app, &lane, batch).await {
            *outcomes
                .entry(r["outcome"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "pushed {total} sales in {:.2} s ({:.0} sales/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(
        outcomes.get("applied").copied(),
        Some(total),
        "{outcomes:?}"
    );
    let sold: i64 = 4 * total as i64;
    let after: i64 = on_hands(&app, &admin, &skus).await.iter().sum();
    assert_eq!(before.iter().sum::<i64>() - after, sold);
    assert!(elapsed.as_secs() < 60, "backlog push took {elapsed:?}");
    assert_ledger_consistent(&app, &admin).await;
}
crate::both_backends!(backlog_pushes_fast, backlog_pushes_fast);

/// The sales endpoints and their types are in the OpenAPI document.
async fn sales_documented_in_openapi(app: TestApp) {
    let (status, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/pos/sales",
        "/api/v1/pos/sales/{id}",
        "/api/v1/returns",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    for schema in [
        "PushSales",
        "PosSale",
        "PushSalesResult",
        "CreateReturn",
        "ReturnResult",
        "SaleView",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
}
crate::both_backends!(sales_documented_in_openapi, sales_documented_in_openapi);

/// The server re-prices every applied lane sale with the engine: a sale priced as the engine
/// prices it passes silently; one whose total differs is kept (the shopper paid) and audited as
/// `sale.price_mismatch` for the store to review.
async fn lane_sales_are_repriced_by_the_engine(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let (status, quote) = app
        .post(
            "/api/v1/pricing/quote",
            None,
            json!({ "store": "SH001", "lines": [{ "sku_id": skus[0], "qty": 2 }, { "sku_id": skus[1], "qty": 1 }] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    let unit = |i: usize| fen(&quote["lines"][i]["unit_price"]);
    let right = sale(
        "SH001",
        None,
        &[
            (skus[0].as_str(), 2, unit(0)),
            (skus[1].as_str(), 1, unit(1)),
        ],
        &[],
    );
    let wrong = sale(
        "SH001",
        None,
        &[
            (skus[0].as_str(), 2, unit(0) + 1),
            (skus[1].as_str(), 1, unit(1)),
        ],
        &[],
    );
    for s in [&right, &wrong] {
        let (status, body) = app
            .post("/api/v1/pos/sales", Some(&lane), json!({ "sales": [s] }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["results"][0]["outcome"], "applied", "{body}");
    }
    // The check runs after the answer: wait for its audit entry.
    let mismatches = |audit: Value| -> Vec<Value> {
        audit["items"]
            .as_array()
            .or_else(|| audit.as_array())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["action"] == "sale.price_mismatch")
            .collect()
    };
    let mut flagged = Vec::new();
    for _ in 0..100 {
        let path = format!("/api/v1/audit?entity_id={}", wrong["id"].as_str().unwrap());
        flagged = mismatches(app.get(&path, Some(&admin)).await.1);
        if !flagged.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(flagged.len(), 1, "the wrongly priced sale is flagged");
    assert_eq!(
        fen(&flagged[0]["detail"]["server_total"]),
        fen(&right["total"]),
        "the engine's total for the same basket"
    );
    let path = format!("/api/v1/audit?entity_id={}", right["id"].as_str().unwrap());
    assert!(mismatches(app.get(&path, Some(&admin)).await.1).is_empty());
}
crate::both_backends!(
    lane_sales_are_repriced_by_the_engine,
    lane_sales_are_repriced_by_the_engine
);

/// Issue 15, finding 14: a push of 130 sales is applied in transactions of
/// [`retail_server::app::lane_sales::PUSH_CHUNK`] sales (so it never holds SQLite's writer for
/// long), still exactly once: copies of a sale in later chunks answer `duplicate` with the first
/// copy's order number, the whole push resent answers `duplicate` for every sale, and stock
/// moves once per sale.
async fn a_large_push_is_chunked_and_applied_once(app: TestApp) {
    let chunk = retail_server::app::lane_sales::PUSH_CHUNK;
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 3).await;
    let mut sales: Vec<Value> = (0..2 * chunk + 27)
        .map(|i| sale("SH001", None, &[(skus[i % 3].as_str(), 1, 250)], &[]))
        .collect();
    // Copies of the first sale in the second and third chunk.
    sales[chunk + 3] = sales[0].clone();
    sales[2 * chunk + 5] = sales[0].clone();
    let before: i64 = on_hands(&app, &admin, &skus).await.iter().sum();
    let results = push(&app, &lane, &sales).await;
    let outcome = |r: &Value| r["outcome"].as_str().unwrap().to_owned();
    assert_eq!(outcome(&results[0]), "applied");
    for copy in [chunk + 3, 2 * chunk + 5] {
        assert_eq!(outcome(&results[copy]), "duplicate", "{}", results[copy]);
        assert_eq!(results[copy]["order_no"], results[0]["order_no"]);
    }
    let applied = results.iter().filter(|r| outcome(r) == "applied").count();
    assert_eq!(applied, sales.len() - 2);
    let after: i64 = on_hands(&app, &admin, &skus).await.iter().sum();
    assert_eq!(before - after, applied as i64);
    // The lane resends the whole push (its answer was lost): nothing applies twice.
    let again = push(&app, &lane, &sales).await;
    assert!(again.iter().all(|r| outcome(r) == "duplicate"), "{again:?}");
    assert_eq!(
        on_hands(&app, &admin, &skus).await.iter().sum::<i64>(),
        after
    );
    assert_ledger_consistent(&app, &admin).await;
}
crate::both_backends!(
    a_large_push_is_chunked_and_applied_once,
    a_large_push_is_chunked_and_applied_once
);
