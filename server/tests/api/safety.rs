//! Issue 15, the order path under attack and under load: one bad order never fails another's
//! batch (finding 4), anonymous stock lock-up is refused (finding 8), and a busy database or a
//! slow request is a 503 with `Retry-After`, never a 500 or a hung socket (finding 14).

use reqwest::StatusCode;
use retail_domain::order::{Channel, Fulfilment};
use retail_server::app::order_intake::{place_isolated, UnpaidCaps};
use retail_server::storage::orders::{NewOrder, NewOrderLine};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::pricing::{coupon_template, issue_coupon, member_code, register_member};
use crate::support::TestApp;

/// A SKU with more than `at_least` available at SH001, and how many.
async fn stocked_sku(app: &TestApp, at_least: i64) -> (Uuid, i64) {
    let token = app.login("admin").await;
    let (status, body) = app
        .get("/api/v1/stock?location_id=SH001&limit=50", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body
        .get("items")
        .unwrap_or(&body)
        .as_array()
        .unwrap()
        .clone();
    let row = rows
        .iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > at_least)
        .expect("a stocked SKU");
    (
        row["sku_id"].as_str().unwrap().parse().unwrap(),
        row["available"].as_i64().unwrap(),
    )
}

async fn available(app: &TestApp, sku: Uuid) -> i64 {
    let (status, body) = app
        .get(&format!("/api/v1/skus/{sku}/availability"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.get("stores")
        .unwrap_or(&body)
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["location_id"] == "SH001" || s["store"] == "SH001" || s["id"] == "SH001")
        .and_then(|s| s["available"].as_i64())
        .expect("SH001 availability")
}

async fn coupon_status(app: &TestApp, coupon: Uuid) -> String {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT status FROM coupons WHERE id = $1")
        .bind(coupon.to_string())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get(&row, "status")
}

async fn order_count(app: &TestApp) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT COUNT(*) AS n FROM orders")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get(&row, "n")
}

async fn ledger_is_consistent(app: &TestApp) {
    let mismatches = retail_server::storage::stock::ledger_mismatches(&app.state.store)
        .await
        .unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

fn pickup(sku: Uuid, qty: i64) -> Value {
    json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
           "lines": [{"sku_id": sku, "qty": qty}]})
}

/// An order as the writer receives it, one unit of `sku` at SH001 at ¥1.00.
fn new_order(sku: Uuid, member: Option<Uuid>, coupons: Vec<Uuid>) -> NewOrder {
    let now = retail_server::storage::now_ms();
    NewOrder {
        id: Uuid::now_v7(),
        order_no_prefix: "W",
        channel: Channel::Online,
        fulfilment: Fulfilment::Pickup,
        location_id: "SH001".into(),
        member_id: member,
        lines: vec![NewOrderLine {
            sku_id: sku,
            name: "test".into(),
            qty: 1,
            unit_price_fen: 100,
            discount_fen: 0,
            amount_fen: 100,
            weighed: false,
        }],
        subtotal_fen: 100,
        discount_fen: 0,
        total_fen: 100,
        address_enc: None,
        pickup_code: Some("123456".into()),
        created_by: "test".into(),
        client_ts: now,
        expires_at: now + 900_000,
        flash_claims: Vec::new(),
        coupons,
        points_redeemed: 0,
        pricing: None,
        client_key: Some("ip:127.0.0.1".into()),
    }
}

/// Finding 4. The attack: an order naming the same coupon twice. Over HTTP it is refused with a
/// clear 422 before it reaches the order writer, and changes nothing. Handed to the writer
/// anyway (in one batch with good orders, and concurrently with good HTTP orders), it fails
/// alone: every good order is placed, the bad one is refused with 409 `coupon_used`, its coupon
/// stays available, and stock and coupon ledgers agree.
async fn one_bad_order_never_fails_the_batch(app: TestApp) {
    let admin = app.login("admin").await;
    let (sku, before) = stocked_sku(&app, 40).await;
    let member = register_member(&app, &admin, "13900150004").await;
    let template = coupon_template(&app, &admin, "staff", None).await;
    let coupon = issue_coupon(&app, &admin, template, member).await;
    let code = member_code(&app, &admin, member).await;

    // Over HTTP: a clear 422, nothing reserved, the coupon untouched.
    let orders_before = order_count(&app).await;
    let mut bad = pickup(sku, 1);
    bad["member_code"] = json!(code);
    bad["coupons"] = json!([coupon, coupon]);
    let (status, body) = app.post("/api/v1/orders", None, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "duplicate_coupon", "{body}");
    assert!(body["error"]["fields"]["coupons"].is_string(), "{body}");
    assert_eq!(order_count(&app).await, orders_before);
    assert_eq!(available(&app, sku).await, before);
    assert_eq!(coupon_status(&app, coupon).await, "available");

    // In the writer: one batch of 9 good orders with the bad one in the middle.
    let mut batch: Vec<NewOrder> = (0..9).map(|_| new_order(sku, None, vec![])).collect();
    batch.insert(4, new_order(sku, Some(member), vec![coupon, coupon]));
    let results = place_isolated(&app.state.store, &batch, &UnpaidCaps::none()).await;
    for (i, result) in results.iter().enumerate() {
        if i == 4 {
            match result {
                Err(err) => {
                    assert_eq!(err.status().as_u16(), 409, "{err}");
                    assert_eq!(err.code(), "coupon_used");
                }
                Ok(placed) => panic!("the bad order was placed: {placed:?}"),
            }
        } else {
            let placed = result
                .as_ref()
                .unwrap_or_else(|e| panic!("good order {i}: {e}"));
            assert!(placed.created);
        }
    }
    assert_eq!(coupon_status(&app, coupon).await, "available");
    assert_eq!(available(&app, sku).await, before - 9);

    // Through the running writer, concurrently with good orders over HTTP.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/orders", app.url);
        let body = pickup(sku, 1);
        tasks.push(tokio::spawn(async move {
            client.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    let intake = app.state.intake.clone();
    let bad = new_order(sku, Some(member), vec![coupon, coupon]);
    let bad_result = tokio::spawn(async move { intake.place(bad).await });
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    let err = bad_result
        .await
        .unwrap()
        .expect_err("the bad order is refused");
    assert_eq!(err.code(), "coupon_used", "{err}");
    assert_eq!(coupon_status(&app, coupon).await, "available");
    assert_eq!(available(&app, sku).await, before - 29);
    ledger_is_consistent(&app).await;
}
crate::both_backends!(
    one_bad_order_never_fails_the_batch,
    one_bad_order_never_fails_the_batch
);

fn lock_up_limits(s: &mut retail_server::config::Settings) {
    let o = &mut s.orders;
    o.orders_per_minute_per_address = 12;
    o.orders_per_minute_per_member = 1_000;
    o.payment_intents_per_minute_per_address = 5;
    o.payment_intents_per_minute_per_member = 1_000;
    o.max_unpaid_orders_per_address = 3;
    o.max_unpaid_units_per_address = 150;
    o.max_unpaid_orders_per_member = 2;
    o.max_unpaid_units_per_member = 150;
}

/// Finding 8. The attack: an anonymous client reserves as much stock as it can, as fast as it
/// can, and creates payment intents without end. Refused: 999 units of a SKU is over the cap
/// (422); past 3 unpaid orders or 150 units it gets 409 `too_many_unpaid_orders` (so at most
/// 150 units are ever locked); past 12 orders a minute 429 with `Retry-After`; past 5 payment
/// intents a minute 429. A member is capped the same way on its own (2 unpaid orders here).
/// The ledger stays consistent and the refusals reserve nothing.
async fn anonymous_stock_lock_up_is_refused(app: TestApp) {
    let admin = app.login("admin").await;
    let (sku, before) = stocked_sku(&app, 200).await;

    // 999 units of one SKU: over the per-SKU cap.
    let (status, body) = app.post("/api/v1/orders", None, pickup(sku, 999)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A burst of 50-unit orders, all at once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/orders", app.url);
        let body = pickup(sku, 50);
        tasks.push(tokio::spawn(async move {
            let resp = client.post(url).json(&body).send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }));
    }
    let mut placed = Vec::new();
    let mut capped = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => placed.push(body["id"].as_str().unwrap().to_owned()),
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "too_many_unpaid_orders", "{body}");
                capped += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((placed.len(), capped), (3, 5));
    assert_eq!(available(&app, sku).await, before - 150);

    // Keep going: the per-address rate answers 429 with Retry-After (9 orders so far, 12 a
    // minute), and nothing more is reserved.
    let mut limited = None;
    for _ in 0..5 {
        let resp = app
            .client
            .post(format!("{}/api/v1/orders", app.url))
            .json(&pickup(sku, 1))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), StatusCode::CONFLICT);
    }
    let limited = limited.expect("a 429 within the burst");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(available(&app, sku).await, before - 150);

    // Payment intents: 5 a minute from one address.
    let order = &placed[0];
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let resp = app
            .client
            .post(format!("{}/api/v1/orders/{order}/payments", app.url))
            .json(&json!({"id": Uuid::now_v7()}))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().contains_key("retry-after"));
        }
        statuses.push(resp.status());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses[5..], [StatusCode::TOO_MANY_REQUESTS; 2]);

    ledger_is_consistent(&app).await;

    // A member is capped on its own: 2 unpaid orders. (Placed straight through the writer, the
    // address above being rate-limited; the member cap is the writer's.)
    let member = register_member(&app, &admin, "13900150008").await;
    let caps = UnpaidCaps::from_settings(&app.state.settings.orders);
    let mut orders: Vec<NewOrder> = (0..3)
        .map(|_| new_order(sku, Some(member), vec![]))
        .collect();
    for o in &mut orders {
        o.client_key = Some(format!("ip:198.51.100.{}", o.id.as_u128() % 200));
    }
    let results = place_isolated(&app.state.store, &orders, &caps).await;
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    let err = results[2]
        .as_ref()
        .expect_err("third unpaid order of a member");
    assert_eq!(err.code(), "too_many_unpaid_orders");
    assert_eq!(available(&app, sku).await, before - 152);
    ledger_is_consistent(&app).await;
}
crate::both_backends!(
    anonymous_stock_lock_up_is_refused,
    anonymous_stock_lock_up_is_refused,
    super::lock_up_limits
);

/// Finding 14. The load: every connection the server could write with is taken (SQLite's one
/// writer, or PostgreSQL's whole pool, held by open transactions). A write then waits at most
/// the configured 300 ms for a connection and is answered 503 with `Retry-After` and the JSON
/// error, never a 500; once the connections are free the same request succeeds.
async fn a_busy_database_is_503_with_retry_after(app: TestApp) {
    let (sku, _) = stocked_sku(&app, 5).await;
    let (status, order) = app.post("/api/v1/orders", None, pickup(sku, 1)).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let order = order["id"].as_str().unwrap().to_owned();

    let mut held = Vec::new();
    loop {
        match app.state.store.begin().await {
            Ok(tx) => held.push(tx),
            Err(err) => {
                assert_eq!(err.status().as_u16(), 503, "{err}");
                break;
            }
        }
        assert!(held.len() <= 64, "the pool never ran out");
    }
    let payment = json!({"id": Uuid::now_v7()});
    let resp = app
        .client
        .post(format!("{}/api/v1/orders/{order}/payments", app.url))
        .json(&payment)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert_eq!(
        body["error"]["message"], "the database is busy, please retry",
        "{body}"
    );

    drop(held);
    let (status, body) = app
        .post(&format!("/api/v1/orders/{order}/payments"), None, payment)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
crate::both_backends!(
    a_busy_database_is_503_with_retry_after,
    a_busy_database_is_503_with_retry_after,
    |s| s.load.db_acquire_timeout_millis = 300
);

/// Finding 14. A request that takes longer than `load.request_timeout_secs` (here: it waits for
/// a database connection held by another transaction, with a pool wait longer than the request
/// limit) is answered 503 with `Retry-After` when the limit passes, not left hanging.
async fn a_slow_request_times_out_with_503(app: TestApp) {
    // The SKU is read from the store, not over HTTP: with a 1-second request limit, a staff
    // log-in (a deliberately slow password hash) on a loaded machine could itself time out.
    let levels = retail_server::storage::stock::list_levels(
        &app.state.store,
        &retail_server::storage::stock::LevelFilter {
            location_id: Some("SH001".into()),
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let sku = levels
        .iter()
        .find(|l| l.on_hand - l.reserved > 5)
        .expect("a stocked SKU")
        .sku_id;
    let (status, order) = app.post("/api/v1/orders", None, pickup(sku, 1)).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let order = order["id"].as_str().unwrap().to_owned();
    let mut held = Vec::new();
    // Take every connection without waiting out the 20 s pool limit: the pool's size.
    let size = if app.settings.is_sqlite() { 1 } else { 16 };
    for _ in 0..size {
        held.push(app.state.store.begin().await.unwrap());
    }
    let resp = app
        .client
        .post(format!("{}/api/v1/orders/{order}/payments", app.url))
        .json(&json!({"id": Uuid::now_v7()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    // Answered by the request limit, not by the pool giving up (its message differs).
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert_eq!(
        body["error"]["message"], "the server is busy, please retry",
        "{body}"
    );
    drop(held);
}
crate::both_backends!(
    a_slow_request_times_out_with_503,
    a_slow_request_times_out_with_503,
    |s| {
        s.load.db_acquire_timeout_millis = 20_000;
        s.load.request_timeout_secs = 1;
    }
);
