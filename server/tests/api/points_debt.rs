//! Points debt (issue 14), on SQLite and PostgreSQL: points earned on an order that is refunded
//! after they were spent are taken back whole — the balance goes negative (积分欠款) with a
//! ledger reason saying how much became debt — the member cannot redeem while in debt, a later
//! purchase's earnings pay the debt off, and the expiry run never expires anything against the
//! debt. The shop's member page and the console's member page say how many points are owed.

use std::time::Duration;

use reqwest::StatusCode;
use retail_server::storage::members as m;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::refund_approvals::pay_at_sandbox;
use crate::support::TestApp;

const DAY_MS: i64 = 86_400_000;

/// A SKU stocked at SH001, priced ¥88.00 everywhere with no member price.
async fn sku_at_88(app: &TestApp, admin: &str) -> Value {
    let (_, stock) = app
        .get("/api/v1/stock?location_id=SH001&limit=50", Some(admin))
        .await;
    let sku = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > 10)
        .expect("a stocked SKU")["sku_id"]
        .clone();
    let id = sku.as_str().unwrap();
    let (status, body) = app
        .put(
            &format!("/api/v1/skus/{id}/price"),
            Some(admin),
            json!({"price": "88.00", "member_price": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.delete(&format!("/api/v1/stores/SH001/prices/{id}"), Some(admin))
        .await;
    sku
}

/// Places a member's pickup order at SH001: (status, answer).
async fn member_order(
    app: &TestApp,
    id: Uuid,
    code: &str,
    sku: &Value,
    qty: i64,
    points: i64,
) -> (StatusCode, Value) {
    app.post(
        "/api/v1/orders",
        None,
        json!({"id": id, "fulfilment": "pickup", "store": "SH001", "member_code": code,
               "lines": [{"sku_id": sku, "qty": qty}], "points_to_redeem": points}),
    )
    .await
}

async fn balance(app: &TestApp, member: Uuid) -> i64 {
    m::points_balance(&app.state.store, member).await.unwrap()
}

async fn a_refund_of_spent_points_is_a_debt_paid_by_later_earnings(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let phone = "13512340001";
    let mut shop = crate::web::shopper(&app, phone).await;
    let (status, found) = app
        .post(
            "/api/v1/members/lookup",
            Some(&admin),
            json!({"phone": phone}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let member: Uuid = found["id"].as_str().unwrap().parse().unwrap();
    let start = balance(&app, member).await;
    let sku = sku_at_88(&app, &admin).await;
    let code = crate::pricing::member_code(&app, &admin, member).await;

    // Earn: order A (¥88) paid earns 88 points.
    let order_a = Uuid::now_v7();
    let (status, body) = member_order(&app, order_a, &code, &sku, 1, 0).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    pay_at_sandbox(&app, order_a).await;
    assert_eq!(balance(&app, member).await, start + 88);

    // Redeem all of it on order B (2 × ¥88; the member's balance is read through a cache of
    // about a second when an order is placed, so B is placed again under its id until the
    // quote sees the points).
    let all = start + 88;
    let order_b = Uuid::now_v7();
    let placed = retail_testkit::eventually(
        "order B redeems every point",
        Duration::from_secs(30),
        || {
            let (app, code, sku) = (&app, &code, &sku);
            async move {
                let (status, body) = member_order(app, order_b, code, sku, 2, all).await;
                (status == StatusCode::OK).then_some(body)
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(placed["total"], "175.12", "{placed}");
    assert_eq!(balance(&app, member).await, 0);

    // Refund A (the store cancels the paid order): its 88 points are taken back whole though
    // they were spent, so the member owes 88 points.
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_a}/cancel"),
            Some(&manager),
            json!({"reason": "顾客要求退款"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(balance(&app, member).await, -88);
    let (_, ledger) = app
        .get(&format!("/api/v1/members/{member}/points"), Some(&admin))
        .await;
    let reversal = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "reverse")
        .unwrap_or_else(|| panic!("a reversal in {ledger}"))
        .clone();
    assert_eq!(reversal["delta"], -88, "{reversal}");
    assert_eq!(
        reversal["reason"],
        "88 of the 88 points reversed were already spent: owed as points debt"
    );
    let (_, shown) = app
        .get(&format!("/api/v1/members/{member}"), Some(&admin))
        .await;
    assert_eq!(shown["points"], -88, "the signed sum");

    // Both member pages say what is owed.
    let page = shop.get("/me").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("积分欠款"), "the shop shows the debt");
    assert_eq!(
        crate::web::between(&page.body, "id=\"points-owed\">", "<"),
        "88"
    );
    let mut console = crate::web::console(&app, "mgr.sh001").await;
    let page = console.get(&format!("/console/members/{member}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("积分欠款"), "the console shows the debt");
    assert_eq!(
        crate::web::between(&page.body, "id=\"member-points-owed\">", "<"),
        "88"
    );

    // No redeeming while in debt: the ledger refuses (409), and so does an order.
    let mut tx = app.state.store.begin().await.unwrap();
    let err = m::redeem_in_tx(
        &mut tx,
        app.state.store.dialect(),
        member,
        1,
        "in-debt",
        "system",
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 409);
    assert_eq!(err.code(), "insufficient_points");
    drop(tx);
    let (status, body) = member_order(&app, Uuid::now_v7(), &code, &sku, 1, 100).await;
    assert!(
        status == StatusCode::CONFLICT || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status} {body}"
    );
    assert!(
        body["error"]["code"] == "insufficient_points"
            || body["error"]["fields"]["points_to_redeem"].is_string(),
        "{body}"
    );
    assert_eq!(balance(&app, member).await, -88, "nothing redeemed");

    // Expiry never expires against a debt: long after A's points would have expired, the
    // member still owes 88.
    let now = retail_server::storage::now_ms();
    m::expire_points(&app.state.store, now + 800 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(balance(&app, member).await, -88);

    // A later purchase's earnings pay the debt off first: B paid (¥175.12) earns 175.
    pay_at_sandbox(&app, order_b).await;
    assert_eq!(balance(&app, member).await, 175 - 88);
    let page = shop.get("/me").await;
    assert!(!page.body.contains("积分欠款"), "paid off");
    assert_eq!(crate::web::between(&page.body, "id=\"points\">", "<"), "87");
    // B's points are valid for their time; at their expiry only what the debt did not take
    // expires.
    m::expire_points(&app.state.store, now + DAY_MS)
        .await
        .unwrap();
    assert_eq!(balance(&app, member).await, 87);
    m::expire_points(&app.state.store, now + 800 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(balance(&app, member).await, 0);
    let (_, ledger) = app
        .get(&format!("/api/v1/members/{member}/points"), Some(&admin))
        .await;
    let expired: i64 = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "expire")
        .map(|e| e["delta"].as_i64().unwrap())
        .sum();
    assert_eq!(expired, -87);
}
crate::both_backends!(
    a_refund_of_spent_points_is_a_debt_paid_by_later_earnings,
    a_refund_of_spent_points_is_a_debt_paid_by_later_earnings
);

/// The expiry rule with a debt, at the ledger: a debt older than every lot, lots earned while in
/// debt, and a lot expiring while the debt is open.
async fn expiry_leaves_a_points_debt_alone(app: TestApp) {
    let store = &app.state.store;
    let rules = &app.state.settings.points;
    let cashier = app.login("cashier1.sh001").await;
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "phone": "13512340002", "name": "测试"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let member: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let now = retail_server::storage::now_ms();
    let long_ago = now - 800 * DAY_MS;

    // 100 earned long ago (expired by now), all spent, then taken back by a return: owes 100.
    let mut tx = store.begin().await.unwrap();
    m::earn_in_tx(
        &mut tx,
        rules,
        member,
        money("100.00"),
        "old",
        "system",
        long_ago,
    )
    .await
    .unwrap();
    m::redeem_in_tx(&mut tx, store.dialect(), member, 100, "spent", "system")
        .await
        .unwrap();
    assert!(
        m::reverse_in_tx(&mut tx, member, 100, 100, "return-old", "system")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(balance(&app, member).await, -100);
    m::expire_points(store, now).await.unwrap();
    assert_eq!(balance(&app, member).await, -100, "the debt is intact");

    // Points earned while in debt pay it down; taking them back puts all of them back on it.
    let mut tx = store.begin().await.unwrap();
    m::earn_in_tx(&mut tx, rules, member, money("30.00"), "mid", "system", now)
        .await
        .unwrap();
    m::reverse_in_tx(&mut tx, member, 30, 0, "return-mid", "system")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(balance(&app, member).await, -100);
    let (_, ledger) = app
        .get(&format!("/api/v1/members/{member}/points"), Some(&cashier))
        .await;
    assert_eq!(ledger["items"][0]["kind"], "reverse");
    assert_eq!(
        ledger["items"][0]["reason"],
        "30 of the 30 points reversed were already spent: owed as points debt"
    );

    // 150 earned now: 100 of it pays the debt, 50 left, which expire at the lot's expiry.
    let mut tx = store.begin().await.unwrap();
    m::earn_in_tx(
        &mut tx,
        rules,
        member,
        money("150.00"),
        "new",
        "system",
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(balance(&app, member).await, 50);
    m::expire_points(store, now + DAY_MS).await.unwrap();
    assert_eq!(
        balance(&app, member).await,
        50,
        "valid until the lot expires"
    );
    let later = now + 800 * DAY_MS;
    m::expire_points(store, later).await.unwrap();
    assert_eq!(balance(&app, member).await, 0);
    m::expire_points(store, later).await.unwrap();
    assert_eq!(balance(&app, member).await, 0, "idempotent");
}
crate::both_backends!(
    expiry_leaves_a_points_debt_alone,
    expiry_leaves_a_points_debt_alone
);

fn money(text: &str) -> retail_domain::money::Money {
    retail_domain::money::Money::parse(text).unwrap()
}
