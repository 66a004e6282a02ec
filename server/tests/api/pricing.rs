//! Promotions, coupons and flash sales through the server: the engine prices online checkout,
//! coupons are used once and come back, flash sales never oversell nor exceed a member's limit,
//! and bad promotions or coupons are refused with nothing stored.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

/// Two SKUs stocked at SH001 without a store price there, priced ¥200 and ¥120 with no member
/// price.
pub(crate) async fn two_priced_skus(app: &TestApp, admin: &str) -> (Uuid, Uuid) {
    let (status, body) = app
        .get("/api/v1/stock?location_id=SH001&limit=200", Some(admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["items"].as_array().expect("stock rows").clone();
    let mut picked = Vec::new();
    for row in rows {
        if row["available"].as_i64().unwrap_or(0) < 50 {
            continue;
        }
        picked.push(row["sku_id"].as_str().unwrap().parse::<Uuid>().unwrap());
        if picked.len() == 2 {
            break;
        }
    }
    assert_eq!(picked.len(), 2, "two stocked SKUs");
    for (sku, price) in picked.iter().zip(["200.00", "120.00"]) {
        let (status, body) = app
            .put(
                &format!("/api/v1/skus/{sku}/price"),
                Some(admin),
                json!({ "price": price, "member_price": null }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // No store override at SH001 (delete answers 404 when there is none).
        app.delete(&format!("/api/v1/stores/SH001/prices/{sku}"), Some(admin))
            .await;
    }
    (picked[0], picked[1])
}

pub(crate) async fn register_member(app: &TestApp, admin: &str, phone: &str) -> Uuid {
    let id = retail_domain::ids::new_id();
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(admin),
            json!({ "id": id, "phone": phone, "name": "测试" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn register_member_in_storage(app: &TestApp, phone: &str) -> Uuid {
    register_member_named(app, phone, "测试").await
}

/// A new member with `phone` and `name`, registered in storage: its id.
pub(crate) async fn register_member_named(app: &TestApp, phone: &str, name: &str) -> Uuid {
    match retail_server::storage::members::register(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        retail_domain::ids::new_id(),
        phone,
        name,
    )
    .await
    .unwrap()
    {
        retail_server::storage::members::Registration::Created(m) => m.id,
        other => panic!("{phone} not new: {other:?}"),
    }
}

pub(crate) async fn member_code(app: &TestApp, admin: &str, member: Uuid) -> String {
    let (status, body) = app
        .post(
            &format!("/api/v1/members/{member}/member-code"),
            Some(admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// Gives a member the growth of the gold tier (9.5折).
async fn make_gold(app: &TestApp, member: Uuid) {
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE members SET growth = 6000 WHERE id = $1")
        .bind(member.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn window() -> (String, String) {
    let now = Utc::now();
    (
        (now - Duration::hours(1)).to_rfc3339(),
        (now + Duration::days(7)).to_rfc3339(),
    )
}

async fn create_reduction(app: &TestApp, admin: &str, threshold: &str, off: &str) -> Uuid {
    let id = retail_domain::ids::new_id();
    let (from, until) = window();
    let (status, body) = app
        .post(
            "/api/v1/promotions",
            Some(admin),
            json!({ "promotion": {
                "id": id, "name_zh": "满减", "name_en": "spend and save",
                "starts_at": from, "ends_at": until,
                "rule": { "kind": "full_reduction", "tiers": [{ "threshold": threshold, "reduction": off }] }
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

pub(crate) async fn coupon_template(
    app: &TestApp,
    admin: &str,
    issue_on: &str,
    stock: Option<i64>,
) -> Uuid {
    let id = retail_domain::ids::new_id();
    let (from, until) = window();
    let (status, body) = app
        .post(
            "/api/v1/coupon-templates",
            Some(admin),
            json!({
                "id": id,
                "terms": { "name_zh": "满200减20券", "name_en": "¥20 off ¥200",
                    "rule": { "kind": "threshold", "min_spend": "200.00", "amount": "20.00" },
                    "stacks_with_promotions": true },
                "issue_on": issue_on, "valid_from": from, "valid_until": until,
                "per_member_limit": 1, "stock_total": stock
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

pub(crate) async fn issue_coupon(app: &TestApp, admin: &str, template: Uuid, member: Uuid) -> Uuid {
    let coupon = retail_domain::ids::new_id();
    let (status, body) = app
        .post(
            &format!("/api/v1/coupon-templates/{template}/issue"),
            Some(admin),
            json!({ "coupon_id": coupon, "member_id": member }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    coupon
}

/// A client for bursts of concurrent requests: a generous timeout, since hundreds of requests
/// queue on a small machine (the answers, not their speed, are under test).
fn burst_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .expect("http client")
}

fn fen(v: &Value) -> i64 {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("money string, got {v}"));
    let (yuan, cents) = text.split_once('.').expect("two decimals");
    yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

/// The worked example of a real shop rule, end to end: a gold member (9.5折) buys ¥200 + ¥120
/// with 满300减50 running and a 满200减20 coupon. ¥320 × 0.95 = ¥304 ≥ ¥300 → −¥50 = ¥254,
/// coupon −¥20 = ¥234. The quote and the order agree to the fen; each line's discounts sum to
/// the basket's; cancelling gives the coupon back.
async fn checkout_is_priced_by_the_engine(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, b) = two_priced_skus(&app, &admin).await;
    let member = register_member(&app, &admin, "13900000001").await;
    make_gold(&app, member).await;
    create_reduction(&app, &admin, "300.00", "50.00").await;
    let template = coupon_template(&app, &admin, "staff", None).await;
    let coupon = issue_coupon(&app, &admin, template, member).await;
    let code = member_code(&app, &admin, member).await;

    let basket = json!({
        "store": "SH001", "member_code": code,
        "lines": [{ "sku_id": a, "qty": 1 }, { "sku_id": b, "qty": 1 }],
        "coupons": [coupon]
    });
    let (status, quote) = app
        .post("/api/v1/pricing/quote", None, basket.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert_eq!(fen(&quote["subtotal"]), 32_000);
    assert_eq!(fen(&quote["amount_due"]), 23_400, "{quote}");
    // Line by line: ¥190 / ¥114 after the tier price, −¥31.25 / −¥18.75, −¥12.50 / −¥7.50.
    let lines = quote["lines"].as_array().unwrap();
    assert_eq!(fen(&lines[0]["amount_due"]), 14_625, "{quote}");
    assert_eq!(fen(&lines[1]["amount_due"]), 8_775, "{quote}");
    let line_discounts: i64 = lines
        .iter()
        .map(|l| fen(&l["list_amount"]) - fen(&l["amount_due"]))
        .sum();
    assert_eq!(line_discounts, 32_000 - 23_400);
    let explained: Vec<&str> = quote["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["explanation"]["zh"].as_str().unwrap())
        .collect();
    assert_eq!(explained.len(), 3, "tier price, 满减, coupon: {quote}");
    assert!(explained.iter().any(|e| e.contains("300")), "{explained:?}");
    assert!(quote["explanation"]["zh"]
        .as_str()
        .unwrap()
        .contains("满200减20券"));

    let order_id = retail_domain::ids::new_id();
    let mut order = basket.clone();
    order["id"] = json!(order_id);
    order["fulfilment"] = json!("pickup");
    let (status, placed) = app.post("/api/v1/orders", None, order.clone()).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    assert_eq!(fen(&placed["total"]), 23_400);
    let (_, detail) = app.get(&format!("/api/v1/orders/{order_id}"), None).await;
    let amounts: Vec<i64> = detail["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| fen(&l["amount"]))
        .collect();
    assert_eq!(amounts, vec![14_625, 8_775], "{detail}");

    // The coupon is used: a second order with it is refused, and changes nothing.
    let mut again = order.clone();
    again["id"] = json!(retail_domain::ids::new_id());
    let (status, body) = app.post("/api/v1/orders", None, again.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "coupon_used");

    // Cancelling the first order gives the coupon back; the second order now goes through.
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(&admin),
            json!({ "reason": "shopper changed their mind" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post("/api/v1/orders", None, again).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fen(&body["total"]), 23_400);
}
crate::both_backends!(
    checkout_is_priced_by_the_engine,
    checkout_is_priced_by_the_engine
);

/// Foreign, unknown and out-of-window coupons and contradictory or absurd promotions are refused
/// with a clear error, and nothing is stored.
async fn bad_promotions_and_coupons_are_refused(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, b) = two_priced_skus(&app, &admin).await;
    let owner = register_member(&app, &admin, "13900000002").await;
    let other = register_member(&app, &admin, "13900000003").await;
    let template = coupon_template(&app, &admin, "staff", None).await;
    let coupon = issue_coupon(&app, &admin, template, owner).await;
    let other_code = member_code(&app, &admin, other).await;

    // Another member's coupon.
    let (status, body) = app
        .post(
            "/api/v1/pricing/quote",
            None,
            json!({ "store": "SH001", "member_code": other_code,
                    "lines": [{ "sku_id": a, "qty": 2 }], "coupons": [coupon] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["coupons"]
        .as_str()
        .unwrap()
        .contains("another member"));
    // A coupon without a member; an unknown coupon.
    let (status, _) = app
        .post(
            "/api/v1/pricing/quote",
            None,
            json!({ "store": "SH001", "lines": [{ "sku_id": a, "qty": 2 }], "coupons": [coupon] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A forged member code.
    let (status, body) = app
        .post(
            "/api/v1/pricing/quote",
            None,
            json!({ "store": "SH001", "member_code": "MC1.forged.code", "lines": [{ "sku_id": b, "qty": 1 }] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let before = app
        .get("/api/v1/promotions?current=false", Some(&admin))
        .await
        .1;
    let (from, until) = window();
    let bad = [
        // Negative reduction.
        json!({ "kind": "full_reduction", "tiers": [{ "threshold": "100.00", "reduction": "-5.00" }] }),
        // Reduction not below its threshold.
        json!({ "kind": "full_reduction", "tiers": [{ "threshold": "100.00", "reduction": "100.00" }] }),
        // Tiers not increasing.
        json!({ "kind": "full_reduction", "tiers": [{ "threshold": "200.00", "reduction": "20.00" }, { "threshold": "100.00", "reduction": "30.00" }] }),
        // An absurd discount factor.
        json!({ "kind": "percent_off", "price_factor": "1.5" }),
        json!({ "kind": "buy_x_get_y", "buy": 0, "get": 1 }),
    ];
    for rule in bad {
        let (status, body) = app
            .post(
                "/api/v1/promotions",
                Some(&admin),
                json!({ "promotion": { "id": retail_domain::ids::new_id(), "name_zh": "坏规则",
                    "starts_at": from, "ends_at": until, "rule": rule } }),
            )
            .await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{rule}: {status} {body}"
        );
    }
    // An empty window, a window in the past, an unknown store.
    for (starts, ends, stores) in [
        (until.clone(), from.clone(), json!([])),
        (
            (Utc::now() - Duration::days(3)).to_rfc3339(),
            (Utc::now() - Duration::days(2)).to_rfc3339(),
            json!([]),
        ),
        (from.clone(), until.clone(), json!(["NOPE"])),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/promotions",
                Some(&admin),
                json!({ "promotion": { "id": retail_domain::ids::new_id(), "name_zh": "窗口",
                    "starts_at": starts, "ends_at": ends, "stores": stores,
                    "rule": { "kind": "percent_off", "price_factor": "0.9" } } }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    // Two sale prices for the same SKU over overlapping windows contradict each other.
    let sale = |price: &str| {
        json!({ "promotion": { "id": retail_domain::ids::new_id(), "name_zh": "特价",
            "starts_at": from, "ends_at": until,
            "rule": { "kind": "sale_price", "prices": [{ "sku_id": a, "price": price }] } } })
    };
    let (status, body) = app
        .post("/api/v1/promotions", Some(&admin), sale("150.00"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post("/api/v1/promotions", Some(&admin), sale("140.00"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A cashier cannot create promotions.
    let cashier = app.login("cashier1.sh001").await;
    let (status, _) = app
        .post("/api/v1/promotions", Some(&cashier), sale("130.00"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let after = app
        .get("/api/v1/promotions?current=false", Some(&admin))
        .await
        .1;
    assert_eq!(
        after["items"].as_array().unwrap().len(),
        before["items"].as_array().unwrap().len() + 1,
        "only the one valid promotion was stored"
    );

    // Absurd coupon templates.
    for (rule, per_member, stock) in [
        (
            json!({ "kind": "threshold", "min_spend": "10.00", "amount": "20.00" }),
            1,
            json!(null),
        ),
        (
            json!({ "kind": "no_threshold", "amount": "-1.00" }),
            1,
            json!(null),
        ),
        (
            json!({ "kind": "percent", "price_factor": "0" }),
            1,
            json!(null),
        ),
        (
            json!({ "kind": "no_threshold", "amount": "5.00" }),
            0,
            json!(null),
        ),
        (
            json!({ "kind": "no_threshold", "amount": "5.00" }),
            1,
            json!(-3),
        ),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/coupon-templates",
                Some(&admin),
                json!({ "id": retail_domain::ids::new_id(),
                    "terms": { "name_zh": "坏券", "rule": rule },
                    "issue_on": "staff", "valid_from": from, "valid_until": until,
                    "per_member_limit": per_member, "stock_total": stock }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{rule}: {body}");
    }
    let (_, templates) = app.get("/api/v1/coupon-templates", Some(&admin)).await;
    assert_eq!(templates["items"].as_array().unwrap().len(), 1);
}
crate::both_backends!(
    bad_promotions_and_coupons_are_refused,
    bad_promotions_and_coupons_are_refused
);

/// The coupon centre: a limited stock of coupons is claimed by many members at once; exactly the
/// stock is issued, each member at most its limit, retries answer the first coupon. Sign-up
/// coupons arrive with a new membership.
async fn coupon_centre_and_signup_coupons(app: TestApp) {
    let admin = app.login("admin").await;
    let claimable = coupon_template(&app, &admin, "claim", Some(5)).await;
    let signup = coupon_template(&app, &admin, "signup", None).await;
    let mut members = Vec::new();
    for i in 0..8 {
        let member = register_member(&app, &admin, &format!("1390000010{i}")).await;
        members.push((member, member_code(&app, &admin, member).await));
    }
    // Each new member got the sign-up coupon.
    for (member, _) in &members {
        let (_, coupons) = app
            .get(&format!("/api/v1/members/{member}/coupons"), Some(&admin))
            .await;
        let templates: Vec<&str> = coupons["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["template_id"].as_str().unwrap())
            .collect();
        assert_eq!(templates, vec![signup.to_string().as_str()]);
    }
    // Everyone claims twice at once (16 claims for 5 coupons, limit 1 each).
    let mut tasks = Vec::new();
    let burst = burst_client();
    for (_, code) in &members {
        for _ in 0..2 {
            let client = burst.clone();
            let url = format!("{}/api/v1/coupon-templates/{claimable}/claim", app.url);
            let body = json!({ "coupon_id": retail_domain::ids::new_id(), "member_code": code });
            tasks.push(tokio::spawn(async move {
                let response = client.post(url).json(&body).send().await.expect("request");
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                (status, body)
            }));
        }
    }
    let mut granted = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => granted += 1,
            StatusCode::CONFLICT => assert!(
                ["coupon_sold_out", "coupon_limit"]
                    .contains(&body["error"]["code"].as_str().unwrap()),
                "{body}"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(granted, 5);
    let mut per_member: HashMap<Uuid, usize> = HashMap::new();
    for (member, _) in &members {
        let (_, coupons) = app
            .get(&format!("/api/v1/members/{member}/coupons"), Some(&admin))
            .await;
        let n = coupons["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["template_id"] == claimable.to_string())
            .count();
        per_member.insert(*member, n);
    }
    assert_eq!(per_member.values().sum::<usize>(), 5);
    assert!(per_member.values().all(|n| *n <= 1));
    // A retry of a granted claim answers the same coupon.
    let (member, code) = members
        .iter()
        .find(|(m, _)| per_member[m] == 0)
        .cloned()
        .expect("a member without the coupon");
    let _ = member;
    let (status, body) = app
        .post(
            &format!("/api/v1/coupon-templates/{claimable}/claim"),
            None,
            json!({ "coupon_id": retail_domain::ids::new_id(), "member_code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "coupon_sold_out");
}
crate::both_backends!(
    coupon_centre_and_signup_coupons,
    coupon_centre_and_signup_coupons
);

/// A flash sale under 500 concurrent buyers: exactly the limited quantity is sold, no member
/// goes over the per-member limit, and cancelled orders give their units back.
async fn flash_sale_limits_hold_under_concurrency(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, _) = two_priced_skus(&app, &admin).await;
    let flash_id = retail_domain::ids::new_id();
    let (from, until) = window();
    let (status, body) = app
        .post(
            "/api/v1/promotions",
            Some(&admin),
            json!({ "promotion": { "id": flash_id, "name_zh": "秒杀", "name_en": "Flash sale",
                    "starts_at": from, "ends_at": until, "stacking": "exclusive",
                    "rule": { "kind": "sale_price", "prices": [{ "sku_id": a, "price": "9.90" }] } },
                    "flash_sale": { "total_qty": 30, "per_member_limit": 2 } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["promotion"]["audience"]["kind"], "members");

    // Lanes never see the flash sale.
    let (_, context) = app
        .get("/api/v1/pricing/context?store=SH001", Some(&admin))
        .await;
    assert!(context["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != flash_id.to_string()));

    let mut codes = Vec::new();
    for i in 0..50 {
        // Fifty members at once: more than one staff account may register a minute through the
        // API (`POST /members` counts against the look-up limit), so straight into storage.
        let member = register_member_in_storage(&app, &format!("1370000{i:04}")).await;
        codes.push((member, member_code(&app, &admin, member).await));
    }
    let mut tasks = Vec::new();
    let burst = burst_client();
    for n in 0..500 {
        let (member, code) = codes[n % codes.len()].clone();
        let client = burst.clone();
        let url = format!("{}/api/v1/orders", app.url);
        let body = json!({ "id": retail_domain::ids::new_id(), "fulfilment": "pickup", "store": "SH001",
            "member_code": code, "lines": [{ "sku_id": a, "qty": 1 }] });
        tasks.push(tokio::spawn(async move {
            let response = client.post(url).json(&body).send().await.expect("request");
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (member, status, body)
        }));
    }
    let mut bought: HashMap<Uuid, i64> = HashMap::new();
    let mut orders = Vec::new();
    for task in tasks {
        let (member, status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => {
                assert_eq!(fen(&body["total"]), 990, "{body}");
                *bought.entry(member).or_default() += 1;
                orders.push(body["id"].as_str().unwrap().to_owned());
            }
            StatusCode::CONFLICT => assert!(
                ["flash_sale_sold_out", "flash_sale_limit"]
                    .contains(&body["error"]["code"].as_str().unwrap()),
                "{body}"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        bought.values().sum::<i64>(),
        30,
        "exactly the flash quantity"
    );
    assert!(bought.values().all(|n| *n <= 2), "{bought:?}");
    let (_, list) = app.get("/api/v1/promotions", Some(&admin)).await;
    let flash = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["promotion"]["id"] == flash_id.to_string())
        .unwrap()
        .clone();
    assert_eq!(flash["flash_sale"]["sold_qty"], 30);

    // Cancelling three unpaid orders gives three units back: three more can be sold.
    for order in &orders[..3] {
        let (status, body) = app
            .post(
                &format!("/api/v1/orders/{order}/cancel"),
                Some(&admin),
                json!({ "reason": "unpaid" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, list) = app.get("/api/v1/promotions", Some(&admin)).await;
    let sold = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["promotion"]["id"] == flash_id.to_string())
        .unwrap()["flash_sale"]["sold_qty"]
        .clone();
    assert_eq!(sold, 27);

    // A new member buys up to the limit and no further; cancelling one of their orders gives
    // them room for one more (their holding went down with the cancellation).
    let member = register_member(&app, &admin, "13700009999").await;
    let code = member_code(&app, &admin, member).await;
    let order_one = |expected: StatusCode| {
        let (app, code) = (&app, code.clone());
        async move {
            let (status, body) = app
                .post(
                    "/api/v1/orders",
                    None,
                    json!({ "id": retail_domain::ids::new_id(), "fulfilment": "pickup",
                        "store": "SH001", "member_code": code, "lines": [{ "sku_id": a, "qty": 1 }] }),
                )
                .await;
            assert_eq!(status, expected, "{body}");
            body
        }
    };
    let first = order_one(StatusCode::OK).await;
    order_one(StatusCode::OK).await;
    let over = order_one(StatusCode::CONFLICT).await;
    assert_eq!(over["error"]["code"], "flash_sale_limit", "{over}");
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{}/cancel", first["id"].as_str().unwrap()),
            Some(&admin),
            json!({ "reason": "changed their mind" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again = order_one(StatusCode::OK).await;
    assert_eq!(fen(&again["total"]), 990, "{again}");

    // Without a member the flash price does not apply (members only): the list price is charged.
    let (status, body) = app
        .post(
            "/api/v1/pricing/quote",
            None,
            json!({ "store": "SH001", "lines": [{ "sku_id": a, "qty": 1 }] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fen(&body["amount_due"]), 20_000);
}
crate::both_backends!(
    flash_sale_limits_hold_under_concurrency,
    flash_sale_limits_hold_under_concurrency
);

/// A device gets its own store's pricing context, with the store's till rounding; ending a
/// promotion removes it from the context.
async fn lanes_get_the_pricing_context(app: TestApp) {
    let admin = app.login("admin").await;
    let promotion = create_reduction(&app, &admin, "100.00", "10.00").await;
    let (status, body) = app
        .put(
            "/api/v1/stores/SH001/pricing",
            Some(&admin),
            json!({ "till_rounding": "down_to_jiao" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app
        .put(
            "/api/v1/stores/SH002/pricing",
            Some(&manager),
            json!({ "till_rounding": "down_to_yuan" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another store's manager");

    let (status, device) = app
        .post(
            "/api/v1/devices",
            Some(&manager),
            json!({ "id": retail_domain::ids::new_id(), "kind": "pos", "location_id": "SH001", "name": "Lane 1" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{device}");
    let credential = device["credential"].as_str().unwrap().to_owned();
    // The cache lives a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, context) = app.get("/api/v1/pricing/context", Some(&credential)).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert_eq!(context["store"], "SH001");
    assert_eq!(context["settings"]["till_rounding"], "down_to_jiao");
    assert!(context["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == promotion.to_string()));
    assert!(!context["public_key"].as_str().unwrap().is_empty());
    let version = context["version"].as_i64().unwrap();

    let (status, body) = app
        .post(
            &format!("/api/v1/promotions/{promotion}/end"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["ended_at"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, context) = app.get("/api/v1/pricing/context", Some(&credential)).await;
    assert!(context["version"].as_i64().unwrap() > version);
    assert!(context["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != promotion.to_string()));
}
crate::both_backends!(lanes_get_the_pricing_context, lanes_get_the_pricing_context);

async fn coupons_of(app: &TestApp, admin: &str, member: Uuid, template: Uuid) -> usize {
    let (_, coupons) = app
        .get(&format!("/api/v1/members/{member}/coupons"), Some(admin))
        .await;
    coupons["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["template_id"] == template.to_string())
        .count()
}

/// Reaching a higher tier issues the tier-upgrade coupons once, in the transaction that earned
/// the growth (here a lane sale with the member).
async fn tier_upgrade_issues_its_coupons(app: TestApp) {
    let admin = app.login("admin").await;
    let template = coupon_template(&app, &admin, "tier_upgrade", None).await;
    let member = register_member(&app, &admin, "13900000201").await;
    // 950 growth: one ¥100 sale away from silver (1,000).
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE members SET growth = 950 WHERE id = $1")
        .bind(member.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (status, device) = app
        .post(
            "/api/v1/devices",
            Some(&admin),
            json!({ "id": retail_domain::ids::new_id(), "kind": "pos", "location_id": "SH001", "name": "Lane 9" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{device}");
    let lane = device["credential"].as_str().unwrap().to_owned();
    let (a, _) = two_priced_skus(&app, &admin).await;
    assert_eq!(coupons_of(&app, &admin, member, template).await, 0);
    for n in 0..2 {
        let sale = json!({
            "id": retail_domain::ids::new_id(), "sale_no": format!("SH001-09-00000{n}"), "store": "SH001",
            "cashier": "cashier1.sh001", "member_id": member,
            "lines": [{ "line_no": 1, "sku_id": a, "barcode": "6900000000000", "name": "item",
                        "qty": 1, "unit_price": "200.00", "discount": "0.00", "amount": "200.00" }],
            "payments": [{ "id": retail_domain::ids::new_id(), "method": "cash", "amount": "200.00" }],
            "subtotal": "200.00", "discount": "0.00", "total": "200.00",
            "completed_at": Utc::now().to_rfc3339(), "offline": false,
        });
        let (status, body) = app
            .post("/api/v1/pos/sales", Some(&lane), json!({ "sales": [sale] }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["results"][0]["outcome"], "applied", "{body}");
        // Silver after the first sale: one coupon; the second sale changes no tier.
        assert_eq!(
            coupons_of(&app, &admin, member, template).await,
            1,
            "after sale {n}"
        );
    }
}
crate::both_backends!(
    tier_upgrade_issues_its_coupons,
    tier_upgrade_issues_its_coupons
);
