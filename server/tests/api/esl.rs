//! Electronic shelf labels (issue 21): shelf prices from the one engine (markdown, member and
//! unit prices), labels pushed to a fake Pricer Plaza through the real adapter — a rejected
//! batch retried with the error visible, an expired token renewed — the queue written before
//! any lane can see a change, and a scheduled markdown boundary on the shelf before the lanes
//! apply it.

use std::time::Duration;

use chrono::{Timelike, Utc};
use reqwest::StatusCode;
use retail_testkit::FakePricer;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_backends;
use crate::support::TestApp;
use crate::web::console;

/// China time's minute of the day now.
fn china_minute() -> u16 {
    let now = Utc::now().with_timezone(&retail_domain::pricing::china_offset());
    (now.hour() * 60 + now.minute()) as u16
}

/// A weighed SKU's shelf price at SH001 (the first one in SKU code order with a category).
async fn weighed_tag(app: &TestApp, admin: &str) -> Value {
    let (status, tags) = app
        .get("/api/v1/stores/SH001/shelf-prices", Some(admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{tags}");
    tags.as_array()
        .unwrap()
        .iter()
        .find(|t| t["shelf"]["weighed"] == true && t["shelf"]["promotion"].is_null())
        .cloned()
        .expect("a weighed SKU on sale at SH001")
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn label(app: &TestApp, admin: &str, label: &str) -> Value {
    let (status, body) = app.get("/api/v1/stores/SH001/esl", Some(admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label_id"] == label)
        .cloned()
        .unwrap_or(Value::Null)
}

fn cents(v: &Value) -> i64 {
    let s = v.as_str().unwrap();
    let (y, f) = s.split_once('.').unwrap();
    y.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
}

async fn markdown_reaches_the_shelf_first_and_rejections_are_retried(app: TestApp) {
    let pricer = FakePricer::of(&app);
    let admin = app.login("admin").await;
    let tag = weighed_tag(&app, &admin).await;
    let sku: Uuid = tag["shelf"]["sku_id"].as_str().unwrap().parse().unwrap();
    let code = tag["sku_code"].as_str().unwrap().to_owned();
    let regular = cents(&tag["shelf"]["regular_price"]);
    // 明码标价: a weighed SKU shows its price per kg and per 500 g.
    let units = tag["shelf"]["unit_prices"].as_array().unwrap();
    assert_eq!(units[0]["unit_zh"], "千克");
    assert_eq!(cents(&units[0]["price"]), regular);
    assert_eq!(units[1]["unit_zh"], "500克");
    assert_eq!(cents(&units[1]["price"]), (regular + 1) / 2);

    // Link a label; a retry with the same id changes nothing; bad input is refused.
    let link = json!({ "id": retail_domain::ids::new_id(), "store": "SH001", "label_id": "L-0001", "sku_id": sku });
    let (status, first) = app
        .post("/api/v1/esl/labels", Some(&admin), link.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = app.post("/api/v1/esl/labels", Some(&admin), link).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    for bad in [
        json!({ "id": retail_domain::ids::new_id(), "store": "SH001", "label_id": "", "sku_id": sku }),
        json!({ "id": retail_domain::ids::new_id(), "store": "XX999", "label_id": "L-9", "sku_id": sku }),
        json!({ "id": retail_domain::ids::new_id(), "store": "SH001", "label_id": "L-9", "barcode": "0000000000000" }),
        json!({ "id": Uuid::new_v4(), "store": "SH001", "label_id": "L-9", "sku_id": sku }),
    ] {
        let (status, body) = app.post("/api/v1/esl/labels", Some(&admin), bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert!(label(&app, &admin, "L-9").await.is_null(), "nothing stored");
    wait_for("the label linked at Pricer", || {
        pricer.link("sh001", "L-0001").as_deref() == Some(code.as_str())
    })
    .await;
    let item = pricer.item("sh001", &code).unwrap();
    assert_eq!(cents(&item["price"]), regular);
    assert_eq!(item["presentation"], "NORMAL");
    assert_eq!(item["properties"]["unitPrice2Unit"], "500克");

    // The vendor rejects the next batch: the markdown below is retried, the error visible.
    pricer.reject_next(1, 500);
    let m = china_minute();
    let (from, until) = ((m + 1439) % 1440, (m + 60) % 1440);
    let until = if until == 0 { 1440 } else { until };
    let promotion = json!({ "promotion": {
        "id": retail_domain::ids::new_id(),
        "name_zh": "晚市7折", "name_en": "Evening markdown",
        "starts_at": Utc::now() - chrono::Duration::minutes(5),
        "ends_at": Utc::now() + chrono::Duration::days(1),
        "stores": ["SH001"],
        "scope": { "skus": [sku] },
        "rule": { "kind": "time_of_day_markdown", "price_factor": "0.7", "days": [],
                  "from_minute": from, "until_minute": until }
    }});
    let (status, body) = app
        .post("/api/v1/promotions", Some(&admin), promotion)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Shelf before lanes: when the promotion is visible to a lane, the label update is queued
    // already (it was written in the promotion's own transaction).
    let (status, context) = app
        .get("/api/v1/pricing/context?store=SH001", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert!(context["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == body["promotion"]["id"]));
    let queued = label(&app, &admin, "L-0001").await;
    assert_eq!(queued["reason"], "promotion", "{queued}");

    let marked = (regular * 7 + 5) / 10;
    wait_for("the rejected batch", || {
        pricer.log().iter().any(|(_, s)| *s == 500)
    })
    .await;
    wait_for("the retried batch at Pricer", || {
        pricer
            .item("sh001", &code)
            .is_some_and(|i| cents(&i["price"]) == marked)
    })
    .await;
    let (_, status_page) = app.get("/api/v1/stores/SH001/esl", Some(&admin)).await;
    let failed: Vec<&Value> = status_page["batches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{status_page}");
    assert_eq!(failed[0]["http_status"], 500);
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .contains("batch rejected"));
    let mut page = console(&app, "admin").await;
    let html = page.get("/console/esl?store=SH001").await;
    assert!(
        html.body.contains("batch rejected by the fake"),
        "the console shows the error"
    );
    let mut shown = label(&app, &admin, "L-0001").await;
    for _ in 0..100 {
        if shown["status"] == "shown" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        shown = label(&app, &admin, "L-0001").await;
    }
    assert_eq!(shown["status"], "shown", "{shown}");
    assert_eq!(shown["attempts"], 0);
    assert_eq!(cents(&shown["shown"]["shelf"]["price"]), marked);
    assert_eq!(shown["shown"]["shelf"]["promotion"]["markdown"], true);
    let wall = page.get("/console/esl/wall?store=SH001").await;
    assert!(wall.body.contains("晚市7折") && wall.body.contains("data-label=\"L-0001\""));

    // Online checkout prices the same SKU with the same markdown (1 kg).
    let quote = retail_server::app::pricing::quote(
        &app.state,
        &retail_server::app::pricing::BasketRequest {
            location: "SH001".into(),
            channel: retail_server::app::pricing::Channel::Online,
            member_id: None,
            lines: vec![(sku, 1000)],
            label_prices: Default::default(),
            coupons: Vec::new(),
            points_to_redeem: 0,
        },
    )
    .await
    .unwrap();
    assert_eq!(quote.basket.lines[0].unit_price.fen(), marked);

    // An expired token: the adapter logs in again and the store price edit reaches the shelf.
    pricer.expire_tokens();
    let logins = pricer.logins();
    let store_price = regular * 3 / 2;
    let text = format!("{}.{:02}", store_price / 100, store_price % 100);
    let (status, body) = app
        .put(
            &format!("/api/v1/stores/SH001/prices/{sku}"),
            Some(&admin),
            json!({ "price": text }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for("the new store price at Pricer", || {
        pricer
            .item("sh001", &code)
            .is_some_and(|i| i["properties"]["regularPrice"] == text.as_str())
    })
    .await;
    assert_eq!(
        cents(&pricer.item("sh001", &code).unwrap()["price"]),
        (store_price * 7 + 5) / 10
    );
    assert!(pricer.logins() > logins, "logged in again");
}
both_backends!(
    esl_markdown_reaches_the_shelf_first_and_rejections_are_retried,
    markdown_reaches_the_shelf_first_and_rejections_are_retried,
    retail_testkit::FakePricer::configure
);

async fn scheduled_markdown_is_on_the_shelf_before_the_lanes(app: TestApp) {
    let pricer = FakePricer::of(&app);
    let admin = app.login("admin").await;
    let tag = weighed_tag(&app, &admin).await;
    let sku: Uuid = tag["shelf"]["sku_id"].as_str().unwrap().parse().unwrap();
    let code = tag["sku_code"].as_str().unwrap().to_owned();
    let regular = cents(&tag["shelf"]["regular_price"]);
    let (status, body) = app
        .post(
            "/api/v1/esl/labels",
            Some(&admin),
            json!({ "id": retail_domain::ids::new_id(), "store": "SH001", "label_id": "L-0002", "sku_id": sku }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for("the label at Pricer", || {
        pricer.link("sh001", "L-0002").is_some()
    })
    .await;
    // A markdown whose daily window opens in 2 to 3 minutes.
    let m = china_minute();
    let (from, until) = ((m + 3) % 1440, (m + 60) % 1440);
    let until = if until == 0 { 1440 } else { until };
    let (status, body) = app
        .post(
            "/api/v1/promotions",
            Some(&admin),
            json!({ "promotion": {
                "id": retail_domain::ids::new_id(), "name_zh": "早市", "name_en": "Morning",
                "starts_at": Utc::now() - chrono::Duration::minutes(5),
                "ends_at": Utc::now() + chrono::Duration::days(1),
                "stores": ["SH001"], "scope": { "skus": [sku] },
                "rule": { "kind": "time_of_day_markdown", "price_factor": "0.5", "days": [],
                          "from_minute": from, "until_minute": until } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The scheduler runs as if `lead_secs` were 4 minutes: the opening is queued now,
    // rendered for its instant.
    let now = retail_server::storage::now_ms();
    let queued = retail_server::app::esl::schedule_tick(&app.state, now + 4 * 60_000)
        .await
        .unwrap();
    assert!(queued >= 1, "the window's opening was queued");
    let half = (regular + 1) / 2;
    wait_for("the markdown price on the shelf", || {
        pricer
            .item("sh001", &code)
            .is_some_and(|i| cents(&i["price"]) == half)
    })
    .await;
    // The lanes and the shop still charge the regular price: the window has not opened.
    let quote = retail_server::app::pricing::quote(
        &app.state,
        &retail_server::app::pricing::BasketRequest {
            location: "SH001".into(),
            channel: retail_server::app::pricing::Channel::Lane,
            member_id: None,
            lines: vec![(sku, 1000)],
            label_prices: Default::default(),
            coupons: Vec::new(),
            points_to_redeem: 0,
        },
    )
    .await
    .unwrap();
    assert_eq!(quote.basket.lines[0].unit_price.fen(), regular);
    let shown = label(&app, &admin, "L-0002").await;
    assert_eq!(shown["reason"], "markdown", "{shown}");
}
both_backends!(
    esl_scheduled_markdown_is_on_the_shelf_before_the_lanes,
    scheduled_markdown_is_on_the_shelf_before_the_lanes,
    retail_testkit::FakePricer::configure
);
