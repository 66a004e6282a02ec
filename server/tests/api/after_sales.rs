//! After-sales started by the shopper (issue 16) through the API, on SQLite and PostgreSQL: a
//! return walked through review (a question and its answer), the goods shipped back, received
//! and refunded to the original tender with the units back in stock, notices, audit and the
//! rating; cancelling a paid order before it ships (refunded at once, or after review when the
//! rules say so); a refund only approved by the rules under an amount; an exchange whose
//! damaged goods are written off and whose replacement leaves the shelf; and bad input (more
//! than bought, outside the window, a refund above what was paid, a repeated request, no
//! token) answered with a clear error and nothing changed.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

/// A delivery order from WH01 of `qty` units of a stocked SKU for a new member, paid through
/// the sandbox: (order id, access token, sku id, order line amount in fen).
async fn member_order(app: &TestApp, phone: &str, qty: i64) -> (Uuid, String, String, i64) {
    member_order_to(app, phone, qty, "上海市浦东新区世纪大道1号").await
}

/// [`member_order`] delivered to `street` (a Hangzhou address pays the demo region's ¥8 fee
/// under ¥99).
async fn member_order_to(
    app: &TestApp,
    phone: &str,
    qty: i64,
    street: &str,
) -> (Uuid, String, String, i64) {
    let admin = app.login("admin").await;
    let member = crate::pricing::register_member_named(app, phone, "售后").await;
    let code = crate::pricing::member_code(app, &admin, member).await;
    let (_, stock) = app
        .get("/api/v1/stock?location_id=WH01&limit=50", Some(&admin))
        .await;
    let sku = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > 20)
        .expect("a stocked SKU at WH01")["sku_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "delivery",
                   "address": {"name": "张三", "phone": phone, "address": street},
                   "member_code": code, "lines": [{"sku_id": sku, "qty": qty}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    let token = order["access_token"].as_str().unwrap().to_owned();
    crate::refund_approvals::pay_at_sandbox(app, id).await;
    let (_, view) = app.get(&format!("/api/v1/orders/{id}"), Some(&admin)).await;
    let amount = view["lines"][0]["amount"]
        .as_str()
        .unwrap()
        .replace('.', "");
    (id, token, sku, amount.parse().unwrap())
}

/// Ships and delivers an order (head office).
pub(crate) async fn deliver(app: &TestApp, order: Uuid) {
    let admin = app.login("admin").await;
    for step in ["ship", "deliver"] {
        let (status, body) = app
            .post(
                &format!("/api/v1/orders/{order}/{step}"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
    }
}

/// A request with the order's access token.
pub(crate) async fn as_shopper(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.url))
        .header("x-order-token", token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Uploads a photo for an order's after-sale with its access token.
async fn upload(app: &TestApp, token: &str, order: Uuid, bytes: Vec<u8>) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/orders/{order}/after-sales/photos",
            app.url
        ))
        .header("x-order-token", token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn shopper_post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    as_shopper(app, token, reqwest::Method::POST, path, Some(body)).await
}

async fn on_hand(app: &TestApp, location: &str, sku: &str) -> i64 {
    let admin = app.login("admin").await;
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id={location}&sku_id={sku}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"][0]["on_hand"].as_i64().unwrap()
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query(sql)
        .bind(bind)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<i64, _>(&row, 0)
}

async fn cases_of(app: &TestApp, order: Uuid) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM after_sales WHERE order_id = $1",
        &order.to_string(),
    )
    .await
}

async fn audits(app: &TestApp, action: &str, case: &str) -> usize {
    let mut tx = app.state.store.begin().await.unwrap();
    let rows = sqlx::query("SELECT detail FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    rows.iter()
        .filter(|r| sqlx::Row::get::<String, _>(*r, "detail").contains(case))
        .count()
}

fn steps(case: &Value) -> Vec<String> {
    case["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_return_is_reviewed_received_refunded_and_rated(app: TestApp) {
    let admin = app.login("admin").await;
    let other_store = app.login("mgr.sh001").await;
    let (order, token, sku, line_fen) = member_order(&app, "13900160001", 2).await;
    deliver(&app, order).await;
    let stock_before = on_hand(&app, "WH01", &sku).await;
    // A photo, uploaded first (checked and re-encoded by the media module).
    let photo = upload(&app, &token, order, crate::media::jpeg(640, 480)).await;
    assert_eq!(photo.0, StatusCode::OK, "{}", photo.1);
    let photo = photo.1["full"]["name"].as_str().unwrap().to_owned();
    let id = Uuid::now_v7();
    let ask = json!({"id": id, "kind": "return_refund", "reason": "damaged",
                     "description": "外包装破损", "lines": [{"line_no": 1, "qty": 1}], "photos": [photo]});
    let path = format!("/api/v1/orders/{order}/after-sales");
    let (status, case) = shopper_post(&app, &token, &path, ask.clone()).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["status"], "requested");
    assert_eq!(case["photos"], json!([photo]));
    let served = app
        .client
        .get(format!("{}/media/{photo}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(
        case["amount"],
        retail_domain::money::Money::from_fen(line_fen / 2).to_string()
    );
    // A retry answers the same case.
    let (status, again) = shopper_post(&app, &token, &path, ask).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], case["id"]);
    assert_eq!(cases_of(&app, order).await, 1);

    // The queue: head office sees it; another store's manager may not decide on it.
    let (status, queue) = app.get("/api/v1/after-sales", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert!(
        queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.to_string()),
        "{queue}"
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/after-sales/{id}/approve"),
            Some(&other_store),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A question, the shopper's answer, the approval.
    let (status, asked) = app
        .post(
            &format!("/api/v1/after-sales/{id}/ask-info"),
            Some(&admin),
            json!({"question": "请上传破损处的照片"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    assert_eq!(asked["status"], "info_requested");
    let (status, answered) = shopper_post(
        &app,
        &token,
        &format!("/api/v1/after-sales/{id}/answer"),
        json!({"answer": "盒子一角压扁了"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["status"], "requested");
    let (status, approved) = app
        .post(
            &format!("/api/v1/after-sales/{id}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    // Rating an open case: 409.
    let (status, _) = shopper_post(
        &app,
        &token,
        &format!("/api/v1/after-sales/{id}/rating"),
        json!({"rating": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Shipped back, received as resaleable: refunded, the unit back on the shelf.
    let (status, back) = shopper_post(
        &app,
        &token,
        &format!("/api/v1/after-sales/{id}/ship-back"),
        json!({"carrier": "顺丰", "waybill": "SF1234567890"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["status"], "returning");
    let (status, received) = app
        .post(
            &format!("/api/v1/after-sales/{id}/receive"),
            Some(&admin),
            json!({"inspection": "resaleable"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{received}");
    assert_eq!(received["status"], "refunded");
    assert_eq!(received["refunded"], case["amount"]);
    assert_eq!(
        steps(&received),
        [
            "requested",
            "info_requested",
            "answered",
            "approved",
            "returning",
            "received",
            "refunded"
        ]
    );
    // Receiving again changes nothing.
    let (status, _) = app
        .post(
            &format!("/api/v1/after-sales/{id}/receive"),
            Some(&admin),
            json!({"inspection": "resaleable"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(on_hand(&app, "WH01", &sku).await, stock_before + 1);
    // The refund goes back through the sandbox tender, once.
    let (status, refunds) = app
        .get(&format!("/api/v1/orders/{order}/refunds"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{refunds}");
    let refunds = refunds.as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], case["amount"]);
    assert_eq!(refunds[0]["method"], "sandbox_qr");
    // Audited decisions and the member's notices.
    assert_eq!(audits(&app, "after_sale.approve", &id.to_string()).await, 1);
    assert_eq!(
        audits(&app, "after_sale.ask_info", &id.to_string()).await,
        1
    );
    assert_eq!(audits(&app, "after_sale.receive", &id.to_string()).await, 1);
    let notices = count(
        &app,
        "SELECT COUNT(*) FROM after_sale_notices WHERE after_sale_id = $1",
        &id.to_string(),
    )
    .await;
    assert_eq!(notices, 4, "info_requested, approved, received, refunded");

    // Rated once; the report shows it by store and product.
    let (status, _) = shopper_post(
        &app,
        &token,
        &format!("/api/v1/after-sales/{id}/rating"),
        json!({"rating": 6}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, rated) = shopper_post(
        &app,
        &token,
        &format!("/api/v1/after-sales/{id}/rating"),
        json!({"rating": 4, "comment": "处理很快"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rated}");
    let (_, rated) = shopper_post(
        &app,
        &token,
        &format!("/api/v1/after-sales/{id}/rating"),
        json!({"rating": 1}),
    )
    .await;
    assert_eq!(rated["rating"], 4);
    let (status, report) = app.get("/api/v1/after-sales/ratings", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let wh = report["by_store"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "WH01")
        .cloned()
        .unwrap();
    assert_eq!(
        (wh["rated"].as_i64(), wh["rating_sum"].as_i64()),
        (Some(1), Some(4)),
        "{report}"
    );
    assert!(report["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["reason"] == "damaged"));
    let (status, _) = app
        .get("/api/v1/after-sales/ratings", Some(&other_store))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    a_return_is_reviewed_received_refunded_and_rated,
    a_return_is_reviewed_received_refunded_and_rated
);

async fn bad_requests_change_nothing(app: TestApp) {
    let admin = app.login("admin").await;
    let (order, token, _, line_fen) = member_order(&app, "13900160002", 2).await;
    let path = format!("/api/v1/orders/{order}/after-sales");
    let ask = |lines: Value| json!({"id": Uuid::now_v7(), "kind": "return_refund", "reason": "quality", "lines": lines});
    // Not delivered yet: cancel it instead.
    let (status, body) =
        shopper_post(&app, &token, &path, ask(json!([{"line_no": 1, "qty": 1}]))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_fulfilled")),
        "{body}"
    );
    deliver(&app, order).await;
    // No token: 401.
    let (status, _) = app
        .post(&path, None, ask(json!([{"line_no": 1, "qty": 1}])))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // More than bought.
    let (status, body) =
        shopper_post(&app, &token, &path, ask(json!([{"line_no": 1, "qty": 3}]))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("return_exceeds_sale")),
        "{body}"
    );
    // A line the order does not have, an unknown reason, seven photos.
    let (status, _) =
        shopper_post(&app, &token, &path, ask(json!([{"line_no": 9, "qty": 1}]))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = shopper_post(&app, &token, &path,
        json!({"id": Uuid::now_v7(), "kind": "exchange", "reason": "bored", "lines": [{"line_no": 1, "qty": 1}]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Not an image, a decompression bomb, a photo name never uploaded, seven photos.
    let (status, body) = upload(&app, &token, order, b"%PDF-1.4 not an image".to_vec()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_an_image")),
        "{body}"
    );
    let (status, body) = upload(
        &app,
        &token,
        order,
        crate::media::png_declaring(60_000, 60_000),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("image_dimensions_too_large")
        ),
        "{body}"
    );
    let (status, _) = upload(&app, "ot_wrong", order, crate::media::jpeg(8, 8)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let never = format!("{}.jpg", "ab".repeat(32));
    let (status, _) = shopper_post(&app, &token, &path,
        json!({"id": Uuid::now_v7(), "kind": "exchange", "reason": "quality", "photos": [never], "lines": [{"line_no": 1, "qty": 1}]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let photos: Vec<String> = (0..7).map(|i| format!("img-{i}")).collect();
    let (status, _) = shopper_post(&app, &token, &path,
        json!({"id": Uuid::now_v7(), "kind": "exchange", "reason": "quality", "photos": photos, "lines": [{"line_no": 1, "qty": 1}]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A refund above what was paid for the units.
    let too_much = retail_domain::money::Money::from_fen(line_fen / 2 + 1).to_string();
    let (status, body) = shopper_post(&app, &token, &path,
        json!({"id": Uuid::now_v7(), "kind": "refund_only", "reason": "quality", "refund": too_much, "lines": [{"line_no": 1, "qty": 1}]})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("refund_exceeds_paid")
        ),
        "{body}"
    );
    assert_eq!(cases_of(&app, order).await, 0);
    // Outside the window: head office sets it to 0 days.
    let (status, rules) = app.get("/api/v1/after-sales/rules", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{rules}");
    let mut closed = rules.clone();
    closed["return_window_days"] = json!(0);
    let (status, body) = app
        .put("/api/v1/after-sales/rules", Some(&admin), closed)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        shopper_post(&app, &token, &path, ask(json!([{"line_no": 1, "qty": 1}]))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("outside_return_window")),
        "{body}"
    );
    assert_eq!(cases_of(&app, order).await, 0);
    let (status, _) = app
        .put("/api/v1/after-sales/rules", Some(&admin), rules)
        .await;
    assert_eq!(status, StatusCode::OK);
    // A store manager may not change the rules; a bad window is refused.
    let manager = app.login("mgr.sh001").await;
    let (status, current) = app.get("/api/v1/after-sales/rules", Some(&manager)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .put("/api/v1/after-sales/rules", Some(&manager), current.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut bad = current;
    bad["return_window_days"] = json!(-1);
    let (status, _) = app
        .put("/api/v1/after-sales/rules", Some(&admin), bad)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // One request goes in; a second on the same line while it is open is refused.
    let (status, body) =
        shopper_post(&app, &token, &path, ask(json!([{"line_no": 1, "qty": 1}]))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        shopper_post(&app, &token, &path, ask(json!([{"line_no": 1, "qty": 1}]))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("after_sale_open")),
        "{body}"
    );
    assert_eq!(cases_of(&app, order).await, 1);
    // Rejected with a reason (required): then the line is free again.
    let case = body_id(&app, order).await;
    let (status, _) = app
        .post(
            &format!("/api/v1/after-sales/{case}/reject"),
            Some(&admin),
            json!({"reason": " "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, rejected) = app
        .post(
            &format!("/api/v1/after-sales/{case}/reject"),
            Some(&admin),
            json!({"reason": "已超出质保范围"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    let (status, _) = app
        .post(
            &format!("/api/v1/after-sales/{case}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(audits(&app, "after_sale.reject", &case).await, 1);
}
crate::both_backends!(bad_requests_change_nothing, bad_requests_change_nothing);

async fn body_id(app: &TestApp, order: Uuid) -> String {
    let admin = app.login("admin").await;
    let (status, list) = app
        .get(&format!("/api/v1/orders/{order}/after-sales"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list[0]["id"].as_str().unwrap().to_owned()
}

async fn a_paid_order_is_cancelled_and_refunded_before_it_ships(app: TestApp) {
    let admin = app.login("admin").await;
    let (order, token, sku, _) = member_order(&app, "13900160003", 1).await;
    let cancel = format!("/api/v1/orders/{order}/cancel");
    // A paid order needs the shopper's client id.
    let (status, _) = shopper_post(&app, &token, &cancel, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let reserved_before = {
        let (_, body) = app
            .get(
                &format!("/api/v1/stock?location_id=WH01&sku_id={sku}"),
                Some(&admin),
            )
            .await;
        body["items"][0]["reserved"].as_i64().unwrap()
    };
    let id = Uuid::now_v7();
    let (status, view) = shopper_post(
        &app,
        &token,
        &cancel,
        json!({"id": id, "reason": "不想要了"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "cancelled");
    let (status, again) = shopper_post(&app, &token, &cancel, json!({"id": id})).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (_, case) = app
        .get(&format!("/api/v1/after-sales/{id}"), Some(&admin))
        .await;
    assert_eq!(
        (case["kind"].as_str(), case["status"].as_str()),
        (Some("cancel"), Some("refunded")),
        "{case}"
    );
    assert_eq!(case["decided_by"], "rule:auto-approve");
    let (_, refunds) = app
        .get(&format!("/api/v1/orders/{order}/refunds"), Some(&admin))
        .await;
    assert_eq!(refunds.as_array().unwrap().len(), 1, "{refunds}");
    assert_ne!(refunds[0]["state"], "awaiting_approval");
    let (_, body) = app
        .get(
            &format!("/api/v1/stock?location_id=WH01&sku_id={sku}"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        body["items"][0]["reserved"].as_i64().unwrap(),
        reserved_before - 1
    );

    // Review first when the rules say so.
    let (_, mut rules) = app.get("/api/v1/after-sales/rules", Some(&admin)).await;
    rules["cancel_auto_approve"] = json!(false);
    let (status, _) = app
        .put("/api/v1/after-sales/rules", Some(&admin), rules)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (order, token, _, _) = member_order(&app, "13900160004", 1).await;
    let id = Uuid::now_v7();
    let (status, view) = shopper_post(
        &app,
        &token,
        &format!("/api/v1/orders/{order}/cancel"),
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        (status, view["status"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{view}"
    );
    let (status, approved) = app
        .post(
            &format!("/api/v1/after-sales/{id}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (StatusCode::OK, Some("refunded")),
        "{approved}"
    );
    let (_, view) = app
        .get(&format!("/api/v1/orders/{order}"), Some(&admin))
        .await;
    assert_eq!(view["status"], "cancelled");

    // Once shipped it cannot be cancelled by the shopper.
    let (order, token, _, _) = member_order(&app, "13900160005", 1).await;
    deliver(&app, order).await;
    let (status, body) = shopper_post(
        &app,
        &token,
        &format!("/api/v1/orders/{order}/cancel"),
        json!({"id": Uuid::now_v7()}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_cancellable")),
        "{body}"
    );
    assert_eq!(cases_of(&app, order).await, 0);
}
crate::both_backends!(
    a_paid_order_is_cancelled_and_refunded_before_it_ships,
    a_paid_order_is_cancelled_and_refunded_before_it_ships
);

async fn refund_only_by_the_rules_and_an_exchange(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, mut rules) = app.get("/api/v1/after-sales/rules", Some(&admin)).await;
    rules["auto_approve_under"] = json!("100000.00");
    let (status, _) = app
        .put("/api/v1/after-sales/rules", Some(&admin), rules)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (order, token, sku, _) = member_order(&app, "13900160006", 3).await;
    deliver(&app, order).await;
    let before = on_hand(&app, "WH01", &sku).await;
    let path = format!("/api/v1/orders/{order}/after-sales");
    // A refund only under the amount: approved and refunded at once; the goods stay with the
    // shopper, so the shelf does not change.
    let (status, case) = shopper_post(&app, &token, &path,
        json!({"id": Uuid::now_v7(), "kind": "refund_only", "reason": "not_received", "lines": [{"line_no": 1, "qty": 1}]})).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["status"], "refunded", "{case}");
    assert_eq!(case["decided_by"], "rule:auto-approve");
    assert_eq!(on_hand(&app, "WH01", &sku).await, before);
    // An exchange: auto-approved, received damaged (written off), the replacement shipped.
    let id = Uuid::now_v7();
    let (status, case) = shopper_post(&app, &token, &path,
        json!({"id": id, "kind": "exchange", "reason": "damaged", "lines": [{"line_no": 1, "qty": 1}]})).await;
    assert_eq!(
        (status, case["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{case}"
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/after-sales/{id}/ship-replacement"),
            Some(&admin),
            json!({"carrier": "顺丰", "waybill": "SF1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "not received yet");
    let (status, received) = app
        .post(
            &format!("/api/v1/after-sales/{id}/receive"),
            Some(&admin),
            json!({"inspection": "damaged"}),
        )
        .await;
    assert_eq!(
        (status, received["status"].as_str()),
        (StatusCode::OK, Some("received")),
        "{received}"
    );
    assert_eq!(on_hand(&app, "WH01", &sku).await, before);
    let (status, shipped) = app
        .post(
            &format!("/api/v1/after-sales/{id}/ship-replacement"),
            Some(&admin),
            json!({"carrier": "顺丰", "waybill": "SF1"}),
        )
        .await;
    assert_eq!(
        (status, shipped["status"].as_str()),
        (StatusCode::OK, Some("exchanged")),
        "{shipped}"
    );
    assert_eq!(shipped["replacement_waybill"], "SF1");
    assert_eq!(shipped["refunded"], "0.00");
    assert_eq!(on_hand(&app, "WH01", &sku).await, before - 1);
    // The order has one unit left to ask about; two are more than that.
    let (status, body) = shopper_post(&app, &token, &path,
        json!({"id": Uuid::now_v7(), "kind": "return_refund", "reason": "quality", "lines": [{"line_no": 1, "qty": 3}]})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("return_exceeds_sale")),
        "{body}"
    );
}
crate::both_backends!(
    refund_only_by_the_rules_and_an_exchange,
    refund_only_by_the_rules_and_an_exchange
);

/// A parcel on its way that the shopper has not received: only a refund can be asked for (a
/// return or an exchange waits for the parcel), outside no return window; approved by the
/// store, it is refunded, the goods stay out of stock (still with the carrier) and the order
/// leaves `shipped` for after-sale (refunded, everything back).
async fn a_parcel_not_received_is_refunded_while_on_its_way(app: TestApp) {
    let admin = app.login("admin").await;
    let (order, token, sku, line_fen) = member_order_to(&app, "13900160011", 1, HANGZHOU).await;
    let fee = shipping_fee(&app, order).await;
    assert_eq!(fee, 800, "a Hangzhou basket under ¥99 pays ¥8");
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/ship"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stock_before = on_hand(&app, "WH01", &sku).await;
    let path = format!("/api/v1/orders/{order}/after-sales");
    for kind in ["return_refund", "exchange"] {
        let (status, body) = shopper_post(&app, &token, &path,
            json!({"id": Uuid::now_v7(), "kind": kind, "reason": "not_received", "lines": [{"line_no": 1, "qty": 1}]})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("not_fulfilled")),
            "{kind}: {body}"
        );
    }
    assert_eq!(cases_of(&app, order).await, 0);
    let id = Uuid::now_v7();
    let (status, case) = shopper_post(&app, &token, &path,
        json!({"id": id, "kind": "refund_only", "reason": "not_received", "description": "一直没收到", "lines": [{"line_no": 1, "qty": 1}]})).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["status"], "requested", "{case}");
    let (status, case) = app
        .post(
            &format!("/api/v1/after-sales/{id}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["status"], "refunded", "{case}");
    // The parcel never arrived: the shipping fee comes back with the goods.
    assert_eq!(
        case["refunded"],
        retail_domain::money::Money::from_fen(line_fen + fee).to_string()
    );
    assert_eq!(refunded_total(&app, order).await, line_fen + fee);
    assert_eq!(on_hand(&app, "WH01", &sku).await, stock_before);
    let (_, view) = app
        .get(&format!("/api/v1/orders/{order}"), Some(&admin))
        .await;
    assert_eq!(view["status"], "refunded", "{view}");
}
crate::both_backends!(
    a_parcel_not_received_is_refunded_while_on_its_way,
    a_parcel_not_received_is_refunded_while_on_its_way
);

/// A Hangzhou street address (the demo's ¥8 region, free from ¥99).
const HANGZHOU: &str = "浙江省杭州市西湖区文三路1号";

/// The shipping fee an order was charged, in fen.
async fn shipping_fee(app: &TestApp, order: Uuid) -> i64 {
    count(
        app,
        "SELECT shipping_fen FROM order_deliveries WHERE order_id = $1",
        &order.to_string(),
    )
    .await
}

/// What the order's refunds give back through the provider, in fen.
async fn refunded_total(app: &TestApp, order: Uuid) -> i64 {
    let admin = app.login("admin").await;
    let (status, refunds) = app
        .get(&format!("/api/v1/orders/{order}/refunds"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{refunds}");
    refunds
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["amount"]
                .as_str()
                .unwrap()
                .parse::<retail_domain::money::Money>()
                .unwrap()
                .fen()
        })
        .sum()
}

/// Returns every unit of a delivered order (approved, received resaleable) and answers the case.
async fn return_all(app: &TestApp, order: Uuid, token: &str, reason: &str, qty: i64) -> Value {
    let admin = app.login("admin").await;
    let id = Uuid::now_v7();
    let (status, case) = shopper_post(app, token, &format!("/api/v1/orders/{order}/after-sales"),
        json!({"id": id, "kind": "return_refund", "reason": reason, "lines": [{"line_no": 1, "qty": qty}]})).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    for (step, body) in [
        ("approve", json!({})),
        ("receive", json!({"inspection": "resaleable"})),
    ] {
        let (status, case) = app
            .post(
                &format!("/api/v1/after-sales/{id}/{step}"),
                Some(&admin),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{step}: {case}");
    }
    let (_, case) = app
        .get(&format!("/api/v1/after-sales/{id}"), Some(&admin))
        .await;
    assert_eq!(case["status"], "refunded", "{case}");
    case
}

async fn the_shipping_fee_comes_back_only_when_the_shopper_is_not_to_blame(app: TestApp) {
    let money = |fen: i64| retail_domain::money::Money::from_fen(fen).to_string();
    // Damaged on arrival, every unit returned: the goods and the fee come back.
    let (order, token, _, line_fen) = member_order_to(&app, "13900160021", 2, HANGZHOU).await;
    let fee = shipping_fee(&app, order).await;
    assert_eq!(fee, 800);
    deliver(&app, order).await;
    let case = return_all(&app, order, &token, "damaged", 2).await;
    assert_eq!(case["refunded"], money(line_fen + fee), "{case}");
    assert_eq!(refunded_total(&app, order).await, line_fen + fee);

    // A change of mind: the goods come back, the fee stays paid.
    let (order, token, _, line_fen) = member_order_to(&app, "13900160022", 2, HANGZHOU).await;
    deliver(&app, order).await;
    let case = return_all(&app, order, &token, "changed_mind", 2).await;
    assert_eq!(case["refunded"], money(line_fen), "{case}");
    assert_eq!(refunded_total(&app, order).await, line_fen);

    // Damaged, but only some units back first: the fee comes with the last ones, once.
    let (order, token, _, line_fen) = member_order_to(&app, "13900160023", 2, HANGZHOU).await;
    deliver(&app, order).await;
    let first = return_all(&app, order, &token, "damaged", 1).await;
    assert_eq!(first["refunded"], money(line_fen / 2), "{first}");
    let last = return_all(&app, order, &token, "damaged", 1).await;
    assert_eq!(
        last["refunded"],
        money(line_fen - line_fen / 2 + fee),
        "{last}"
    );
    assert_eq!(refunded_total(&app, order).await, line_fen + fee);
    let admin = app.login("admin").await;
    let (_, sale) = app
        .get(&format!("/api/v1/pos/sales/{order}"), Some(&admin))
        .await;
    let fees: Vec<&Value> = sale["returns"]
        .as_array()
        .map(|r| r.iter().map(|r| &r["shipping_refund"]).collect())
        .unwrap_or_default();
    assert_eq!(fees, [&Value::Null, &json!(money(fee))], "{sale}");
}
crate::both_backends!(
    the_shipping_fee_comes_back_only_when_the_shopper_is_not_to_blame,
    the_shipping_fee_comes_back_only_when_the_shopper_is_not_to_blame
);
