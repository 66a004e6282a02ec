//! Inbound sync from the middle platform (issue 20): stock levels with the platform's sequence
//! numbers (idempotent batches, stale lines skipped, bad lines refused alone, the ledger kept),
//! member tier changes that take effect at once (and reach the lanes over the bus), price lists
//! applied through the catalog's price writes, and the finance export adding up to the
//! reconciliation's figures.

use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::{ConnectReturnCode, Event, Packet, QoS};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::pricing::{member_code, register_member, two_priced_skus};
use crate::support::TestApp;

fn fen(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("money: {v}"));
    let (yuan, cents) = text.split_once('.').unwrap();
    yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

async fn level(app: &TestApp, admin: &str, location: &str, sku: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id={location}&sku_id={sku}"),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"][0].clone()
}

async fn ledger_clean(app: &TestApp, admin: &str) {
    let (status, body) = app.get("/api/v1/stock/ledger-check", Some(admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]));
}

async fn movements_of(app: &TestApp, batch: &str) -> usize {
    let mut tx = app.state.store.begin().await.unwrap();
    let rows = sqlx::query("SELECT id FROM stock_movements WHERE ref_id = $1")
        .bind(batch)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rows.len()
}

async fn sku_code(app: &TestApp, sku: &str) -> String {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT sku_code FROM skus WHERE id = $1")
        .bind(sku)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::Row::get(&row, "sku_code")
}

/// Absolute levels by SKU code or id; a retry answers the same and changes nothing; stale and
/// bad lines change nothing; reserved units stay; the ledger stays the snapshot's sum.
async fn stock_levels_are_set_by_sequence(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, b) = two_priced_skus(&app, &admin).await;
    let (a, b) = (a.to_string(), b.to_string());
    let code_a = sku_code(&app, &a).await;
    // An online order reserves units of `a`.
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
                "lines": [{"sku_id": a, "qty": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let reserved = level(&app, &admin, "SH001", &a).await["reserved"]
        .as_i64()
        .unwrap();
    assert!(reserved >= 2, "the order reserved units");
    let b_before = level(&app, &admin, "SH001", &b).await["on_hand"]
        .as_i64()
        .unwrap();

    let batch = json!({"batch_id": "stock-0001", "lines": [
        {"sku": code_a, "location": "SH001", "on_hand": 77, "seq": 5},
        {"sku": b, "location": "SH001", "on_hand": b_before, "seq": 1},
        {"sku": "NO-SUCH-SKU", "location": "SH001", "on_hand": 3, "seq": 1},
        {"sku": a, "location": "XX999", "on_hand": 3, "seq": 1},
        {"sku": b, "location": "SH002", "on_hand": -1, "seq": 1},
        {"sku": b, "location": "SH002", "on_hand": 4, "seq": 0},
    ]});
    let (status, report) = app
        .post("/api/v1/sync/stock-levels", Some(&admin), batch.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let statuses: Vec<&str> = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "applied",
            "unchanged",
            "rejected",
            "rejected",
            "rejected",
            "rejected"
        ],
        "{report}"
    );
    let codes: Vec<&str> = report["lines"].as_array().unwrap()[2..]
        .iter()
        .map(|l| l["error"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "unknown_sku",
            "unknown_location",
            "negative_count",
            "bad_sequence"
        ]
    );
    assert_eq!(
        (
            report["applied"].as_i64(),
            report["unchanged"].as_i64(),
            report["rejected"].as_i64()
        ),
        (Some(1), Some(1), Some(4))
    );
    let line = &report["lines"][0];
    assert_eq!(line["on_hand_after"], 77);
    assert_eq!(line["reserved"].as_i64(), Some(reserved));
    assert_eq!(line["available"].as_i64(), Some(77 - reserved));
    let now = level(&app, &admin, "SH001", &a).await;
    assert_eq!(now["on_hand"], 77);
    assert_eq!(
        now["reserved"].as_i64(),
        Some(reserved),
        "reservations stand"
    );
    let sh002_b = level(&app, &admin, "SH002", &b).await["on_hand"].clone();
    assert_eq!(movements_of(&app, "stock-0001").await, 1);
    ledger_clean(&app, &admin).await;

    // The same batch again: the same answer, nothing changed.
    let (status, again) = app
        .post("/api/v1/sync/stock-levels", Some(&admin), batch.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, report);
    assert_eq!(movements_of(&app, "stock-0001").await, 1);
    assert_eq!(level(&app, &admin, "SH002", &b).await["on_hand"], sh002_b);
    // The same id with other content is refused.
    let mut other = batch.clone();
    other["lines"][0]["on_hand"] = json!(1);
    let (status, body) = app
        .post("/api/v1/sync/stock-levels", Some(&admin), other)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "id_in_use");

    // Stale sequences are skipped; a later one wins, also within one batch.
    let (status, report) = app
        .post(
            "/api/v1/sync/stock-levels",
            Some(&admin),
            json!({"batch_id": "stock-0002", "lines": [
                {"sku": a, "location": "SH001", "on_hand": 10, "seq": 5},
                {"sku": a, "location": "SH001", "on_hand": 11, "seq": 4},
                {"sku": a, "location": "SH001", "on_hand": 12, "seq": 7},
                {"sku": a, "location": "SH001", "on_hand": 13, "seq": 6},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let statuses: Vec<&str> = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["stale", "stale", "applied", "stale"], "{report}");
    assert_eq!(report["lines"][0]["last_seq"], 5);
    assert_eq!(report["lines"][3]["last_seq"], 7);
    assert_eq!(level(&app, &admin, "SH001", &a).await["on_hand"], 12);
    ledger_clean(&app, &admin).await;

    // A whole-batch problem is a 422; store staff may not push.
    let (status, body) = app
        .post(
            "/api/v1/sync/stock-levels",
            Some(&admin),
            json!({"batch_id": "", "lines": []}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mgr = app.login("mgr.sh001").await;
    let (status, _) = app
        .post(
            "/api/v1/sync/stock-levels",
            Some(&mgr),
            json!({"batch_id": "stock-0003", "lines": [
                {"sku": a, "location": "SH001", "on_hand": 1, "seq": 99}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(level(&app, &admin, "SH001", &a).await["on_hand"], 12);
}
crate::both_backends!(
    stock_levels_are_set_by_sequence,
    stock_levels_are_set_by_sequence
);

async fn quote_due(app: &TestApp, code: &str, sku: Uuid) -> i64 {
    let (status, quote) = app
        .post(
            "/api/v1/pricing/quote",
            None,
            json!({"store": "SH001", "member_code": code, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    fen(&quote["amount_due"])
}

/// A tier the platform sets changes the member's price at once, is told to the lanes over the
/// bus, and can be given back to growth; stale and bad changes change nothing.
async fn member_tier_takes_effect_at_once(app: TestApp) {
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let admin = app.login("admin").await;
    let (a, _) = two_priced_skus(&app, &admin).await;
    let member = register_member(&app, &admin, "13900000061").await;
    let code = member_code(&app, &admin, member).await;
    assert_eq!(
        quote_due(&app, &code, a).await,
        20_000,
        "regular: list price"
    );

    // A lane of SH001 listens on its store's members topic.
    let (device, credential) = crate::bus::register_device(&app).await;
    let user = device.to_string();
    let (lane, mut events) = crate::bus::client(&app, Some((&user, &credential)));
    assert_eq!(
        crate::bus::connack(&mut events).await,
        Ok(ConnectReturnCode::Success)
    );
    lane.subscribe(
        retail_domain::wire::bus::members_topic("SH001"),
        QoS::AtLeastOnce,
    )
    .await
    .unwrap();
    loop {
        if let Ok(Ok(Event::Incoming(Packet::SubAck(_)))) =
            tokio::time::timeout(Duration::from_secs(10), events.poll()).await
        {
            break;
        }
    }

    let batch = json!({"batch_id": "tier-0001", "changes": [
        {"member_id": member, "tier": "gold", "rights": ["free_shipping"], "seq": 1},
        {"member_id": Uuid::now_v7(), "tier": "gold", "seq": 1},
        {"member_id": member, "tier": "platinum", "seq": 2},
        {"member_id": member, "seq": 3},
        {"member_id": member, "tier": "gold", "rights": ["Bad Right"], "seq": 4},
    ]});
    let (status, report) = app
        .post("/api/v1/sync/member-tiers", Some(&admin), batch.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let statuses: Vec<&str> = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["applied", "rejected", "rejected", "rejected", "rejected"],
        "{report}"
    );
    let codes: Vec<&str> = report["lines"].as_array().unwrap()[1..]
        .iter()
        .map(|l| l["error"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "unknown_member",
            "unknown_tier",
            "nothing_to_change",
            "bad_right"
        ]
    );
    assert_eq!(report["lines"][0]["tier"], "gold");
    // At once: gold is 9.5折.
    assert_eq!(quote_due(&app, &code, a).await, 19_000);
    let (_, shown) = app
        .get(&format!("/api/v1/members/{member}"), Some(&admin))
        .await;
    assert_eq!(shown["tier"]["code"], "gold", "{shown}");
    // The lanes are told.
    let (topic, notice) = crate::bus::next_publish(&mut events).await;
    assert_eq!(topic, "retail/v1/stores/SH001/members");
    assert_eq!(notice["event"], "tier_changed");
    assert_eq!(notice["member_id"], member.to_string());
    assert_eq!(notice["tier"], "gold");
    assert_eq!(notice["rights"], json!(["free_shipping"]));
    assert_eq!(notice["seq"], 1);

    // A retry answers the same.
    let (status, again) = app
        .post("/api/v1/sync/member-tiers", Some(&admin), batch)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, report);

    // A stale change is skipped; `tier: null` gives the tier of the member's growth again.
    let (status, report) = app
        .post(
            "/api/v1/sync/member-tiers",
            Some(&admin),
            json!({"batch_id": "tier-0002", "changes": [
                {"member_id": member, "tier": "diamond", "seq": 1},
                {"member_id": member, "tier": null, "seq": 2},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["lines"][0]["status"], "stale");
    assert_eq!(report["lines"][1]["status"], "applied");
    assert_eq!(report["lines"][1]["tier"], "regular");
    assert_eq!(report["lines"][1]["rights"], json!(["free_shipping"]));
    assert_eq!(quote_due(&app, &code, a).await, 20_000);
    let (_, notice) = crate::bus::next_publish(&mut events).await;
    assert_eq!(notice["tier"], "regular");
    assert_eq!(notice["seq"], 2);
}
crate::both_backends!(
    member_tier_takes_effect_at_once,
    member_tier_takes_effect_at_once,
    crate::bus::embedded_bus
);

async fn list_price_at(app: &TestApp, store: &str, sku: Uuid) -> i64 {
    let (status, quote) = app
        .post(
            "/api/v1/pricing/quote",
            None,
            json!({"store": store, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    fen(&quote["subtotal"])
}

/// A price list sets chain and store prices through the catalog's writes (audited, visible in
/// pricing), refuses bad lines alone, keeps later lines until they start, and answers a retry
/// with the same answer.
async fn price_list_is_applied(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, b) = two_priced_skus(&app, &admin).await;
    let code_b = sku_code(&app, &b.to_string()).await;
    let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let list = json!({"list_id": "prices-2026-12", "lines": [
        {"sku": a, "price_fen": 18_800},
        {"sku": a, "store": "SH002", "price_fen": 19_900},
        {"sku": code_b, "store": "all", "price_fen": 11_000, "valid_from": later},
        {"sku": "NO-SUCH-SKU", "price_fen": 100},
        {"sku": a, "price_fen": 0},
        {"sku": a, "price_fen": 100_000_001},
        {"sku": a, "store": "XX999", "price_fen": 18_000},
        {"sku": a, "store": "SH003", "price_fen": 1},
    ]});
    let (status, report) = app
        .post("/api/v1/sync/price-lists", Some(&admin), list.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let statuses: Vec<&str> = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "applied",
            "applied",
            "scheduled",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "rejected"
        ],
        "{report}"
    );
    let codes: Vec<&str> = report["lines"].as_array().unwrap()[3..]
        .iter()
        .map(|l| l["error"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "unknown_sku",
            "bad_price",
            "bad_price",
            "not_a_store",
            "bad_price"
        ]
    );
    assert_eq!(list_price_at(&app, "SH001", a).await, 18_800);
    assert_eq!(list_price_at(&app, "SH002", a).await, 19_900);
    assert_eq!(list_price_at(&app, "SH003", a).await, 18_800);
    assert_eq!(list_price_at(&app, "SH001", b).await, 12_000, "not yet");
    // Audited as a console change is.
    let mut tx = app.state.store.begin().await.unwrap();
    let audited = sqlx::query(
        "SELECT id FROM audit_log WHERE action = 'price.change' AND entity_id = $1 AND actor = 'staff:admin'",
    )
    .bind(a.to_string())
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(!audited.is_empty());

    let (status, again) = app
        .post("/api/v1/sync/price-lists", Some(&admin), list)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, report);

    // The later line once it starts.
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE platform_price_lines SET valid_from = 0 WHERE list_id = 'prices-2026-12'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    retail_server::app::platform_sync::apply_due_prices(&app.state)
        .await
        .unwrap();
    // The pricing cache holds SKU records a second.
    let mut price = 0;
    for _ in 0..40 {
        price = list_price_at(&app, "SH001", b).await;
        if price == 11_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(price, 11_000);
}
crate::both_backends!(price_list_is_applied, price_list_is_applied);

/// The day's settlement adds up, per tender, to the records the reconciliation matches for that
/// day; its CSV has a row per record; only head office reads it.
async fn finance_export_matches_reconciliation(app: TestApp) {
    let admin = app.login("admin").await;
    let order_id = crate::bus::paid_pickup_order(&app).await;
    let day = retail_server::app::reconciliation::beijing_date(chrono::Utc::now());
    let date = day.format("%Y-%m-%d").to_string();
    let (status, settlement) = app
        .get(
            &format!("/api/v1/finance/settlements?date={date}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settlement}");
    let stores = settlement["stores"].as_array().unwrap();
    let sh001 = stores
        .iter()
        .find(|s| s["store_id"] == "SH001" && s["merchant_id"] == "platform")
        .expect("SH001 settled for the platform's own orders");
    assert!(sh001["lines"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["order_id"] == order_id.as_str() && l["kind"] == "payment"));
    assert_eq!(
        fen(&sh001["net"]),
        fen(&sh001["payments"])
            - fen(&sh001["refunds"])
            - fen(&sh001["commission"])
            - fen(&sh001["fees"])
    );

    // Per tender: the reconciliation's records of the day.
    let (from, to) = retail_server::app::reconciliation::day_bounds(day);
    for method in [
        "sandbox_qr",
        "wechat_pay",
        "alipay",
        "cash",
        "stored_balance",
        "card",
    ] {
        let ours =
            retail_server::storage::reconciliation::ours_of_day(&app.state.store, method, from, to)
                .await
                .unwrap();
        let (mut paid, mut paid_n, mut refunded, mut refunded_n) = (0, 0, 0, 0);
        for r in &ours {
            if r.kind == retail_server::storage::reconciliation::EntryKind::Payment {
                paid += r.amount_fen;
                paid_n += 1;
            } else {
                refunded += r.amount_fen;
                refunded_n += 1;
            }
        }
        let (mut s_paid, mut s_paid_n, mut s_refunded, mut s_refunded_n) = (0, 0, 0, 0);
        for store in stores {
            for m in store["by_method"].as_array().unwrap() {
                if m["method"] == method {
                    s_paid += fen(&m["payments"]);
                    s_paid_n += m["payment_count"].as_i64().unwrap();
                    s_refunded += fen(&m["refunds"]);
                    s_refunded_n += m["refund_count"].as_i64().unwrap();
                }
            }
        }
        assert_eq!(
            (s_paid, s_paid_n, s_refunded, s_refunded_n),
            (paid, paid_n, refunded, refunded_n),
            "{method}"
        );
        if method == "sandbox_qr" {
            assert!(paid_n >= 1);
        }
    }
    let all_paid: i64 = stores.iter().map(|s| fen(&s["payments"])).sum();
    assert_eq!(fen(&settlement["totals"]["payments"]), all_paid);

    // CSV: the same records.
    let response = app
        .client
        .get(format!(
            "{}/api/v1/finance/settlements.csv?date={date}&store=SH001",
            app.url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let rows: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(rows[0].starts_with("date,merchant_id,store_id,kind,method"));
    assert_eq!(rows.len(), 1 + sh001["lines"].as_array().unwrap().len() + 1);
    assert!(rows.iter().any(|r| r.contains(order_id.as_str())));

    // The console's page and file (head office's console cookie).
    let page = app
        .client
        .get(format!(
            "{}/console/payments/settlements?date={date}",
            app.url
        ))
        .header("cookie", format!("console={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"settlements\""), "{html}");
    assert!(html.contains("SH001"));
    let file = app
        .client
        .get(format!(
            "{}/console/payments/settlements.csv?date={date}",
            app.url
        ))
        .header("cookie", format!("console={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert!(file.text().await.unwrap().contains(order_id.as_str()));

    // Refusals.
    let (status, _) = app
        .get("/api/v1/finance/settlements?date=2026-13-40", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .get(
            &format!("/api/v1/finance/settlements?date={date}&store=XX999"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mgr = app.login("mgr.sh001").await;
    let (status, _) = app
        .get(
            &format!("/api/v1/finance/settlements?date={date}"),
            Some(&mgr),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let page = app
        .client
        .get(format!(
            "{}/console/payments/settlements?date={date}",
            app.url
        ))
        .header("cookie", format!("console={mgr}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
}
crate::both_backends!(
    finance_export_matches_reconciliation,
    finance_export_matches_reconciliation
);

/// The same batch sent twice at once (a retry racing the first try): one answer, applied once.
async fn concurrent_retries_apply_once(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, b) = two_priced_skus(&app, &admin).await;
    let batch = json!({"batch_id": "stock-race", "lines": [
        {"sku": a, "location": "SH001", "on_hand": 31, "seq": 1},
        {"sku": b, "location": "SH001", "on_hand": 32, "seq": 1},
    ]});
    let (first, second) = tokio::join!(
        app.post("/api/v1/sync/stock-levels", Some(&admin), batch.clone()),
        app.post("/api/v1/sync/stock-levels", Some(&admin), batch.clone()),
    );
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);
    assert_eq!(first.1, second.1);
    let changed = first.1["applied"].as_u64().unwrap() as usize;
    assert_eq!(movements_of(&app, "stock-race").await, changed);
    assert_eq!(
        level(&app, &admin, "SH001", &a.to_string()).await["on_hand"],
        31
    );
    assert_eq!(
        level(&app, &admin, "SH001", &b.to_string()).await["on_hand"],
        32
    );
    ledger_clean(&app, &admin).await;
}
crate::both_backends!(concurrent_retries_apply_once, concurrent_retries_apply_once);
