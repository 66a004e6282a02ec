//! Event tracking (埋点, issue 19, docs/EVENTS.md): the shop page's batches through
//! `POST /api/v1/events` (stored once per client event id, each event checked on its own, whole
//! batches refused when too large, rate-limited per client address, phone-like values refused),
//! the server's own events for an order placed, paid and handed over, a member who opted out
//! stored without their id, the retention sweep, and the daily counts (API, console page and
//! CSV) matching the raw events. A real browser's beacon: page view with dwell time and a click.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{Backend, TestApp};
use crate::web::{a_sku, console, pickup_order, shopper, Browser};

const DEVICE: &str = "0b6f3c1e-9a4d-4f7e-8c2b-5d1a7e9f3b21";

fn now_ms() -> i64 {
    retail_server::storage::now_ms()
}

fn event(name: &str, props: Value) -> Value {
    json!({
        "id": Uuid::now_v7(), "name": name, "v": 1, "ts": now_ms(), "device": DEVICE,
        "page": "/p/123", "channel": "online", "props": props,
    })
}

/// Sends `body` as a beacon does (`text/plain`, no credential, no cookie).
async fn beacon(app: &TestApp, body: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/events", app.url))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "ingestion sets no cookie"
    );
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn rows(app: &TestApp, sql: &str, bind: &str) -> Vec<sqlx::any::AnyRow> {
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query(sql)
        .bind(bind.to_owned())
        .fetch_all(&mut *tx)
        .await
        .unwrap()
}

fn text(row: &sqlx::any::AnyRow, col: &str) -> Option<String> {
    sqlx::Row::get::<Option<String>, _>(row, col)
}

/// The events of `name` (member, store, channel, props), oldest first, once the server's
/// waiting events are written.
async fn events_named(
    app: &TestApp,
    name: &str,
) -> Vec<(Option<String>, Option<String>, String, Value)> {
    retail_server::app::events::flush(&app.state).await.unwrap();
    rows(
        app,
        "SELECT member_id, store_id, channel, props FROM events WHERE name = $1 ORDER BY received_at, event_id",
        name,
    )
    .await
    .iter()
    .map(|r| {
        (
            text(r, "member_id"),
            text(r, "store_id"),
            text(r, "channel").unwrap(),
            serde_json::from_str(&text(r, "props").unwrap()).unwrap(),
        )
    })
    .collect()
}

async fn member_id(app: &TestApp, phone: &str) -> String {
    let found = rows(
        app,
        "SELECT id FROM members WHERE phone_hash = $1",
        &app.state.keys.lookup_hash(phone),
    )
    .await;
    text(&found[0], "id").unwrap()
}

fn today() -> String {
    let day = retail_server::app::china_day(now_ms());
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(day))
        .format("%Y-%m-%d")
        .to_string()
}

/// The daily counts of today by (name, channel).
async fn todays_counts(app: &TestApp) -> Vec<(String, String, i64)> {
    let admin = app.login("admin").await;
    let day = today();
    let (status, body) = app
        .get(
            &format!("/api/v1/events/daily?from={day}&to={day}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["date"], json!(day));
            (
                c["name"].as_str().unwrap().to_owned(),
                c["channel"].as_str().unwrap().to_owned(),
                c["events"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn count_of(counts: &[(String, String, i64)], name: &str) -> i64 {
    counts
        .iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, _, e)| e)
        .sum()
}

async fn a_batch_is_stored_once_and_counted(app: TestApp) {
    let before = todays_counts(&app).await;
    let batch = json!({"events": [
        event("page_view", json!({"dwell_ms": 1200, "referrer": "/"})),
        event("click", json!({"target": "add_to_cart", "sku": "0b6f3c1e-0000-4f7e-8c2b-000000000001"})),
        event("search", json!({"term": "牛奶"})),
        event("client_error", json!({"kind": "error", "message": "x is undefined", "line": 3})),
        event("anomaly", json!({"kind": "repeated_refresh", "count": 3})),
    ]})
    .to_string();
    let (status, body) = beacon(&app, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"accepted": 5, "duplicates": 0, "errors": []}));
    // The same batch again (as JSON this time): nothing changes.
    let (status, body) = app.post_raw("/api/v1/events", None, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"accepted": 0, "duplicates": 5, "errors": []}));
    let stored = events_named(&app, "page_view").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, None, "no session: no member");
    assert_eq!(stored[0].2, "online");
    assert_eq!(stored[0].3, json!({"dwell_ms": 1200, "referrer": "/"}));

    // The daily counts grew by one per event, once.
    let after = todays_counts(&app).await;
    for name in ["page_view", "click", "search", "client_error", "anomaly"] {
        assert_eq!(
            count_of(&after, name),
            count_of(&before, name) + 1,
            "{name}"
        );
    }
    // Head office only; a bad range is refused.
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app
        .get(
            "/api/v1/events/daily?from=2026-01-01&to=2026-01-02",
            Some(&manager),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = app.login("admin").await;
    for q in [
        "from=2026-13-01&to=2026-12-01",
        "from=2026-12-02&to=2026-12-01",
        "from=2024-01-01&to=2026-01-01",
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/events/daily?{q}"), Some(&admin))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
    }

    // The console's page and its CSV show the same counts.
    let mut desk = console(&app, "admin").await;
    let day = today();
    let page = desk
        .get(&format!("/console/analytics/events?from={day}&to={day}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"event-days\""), "{}", page.body);
    assert!(page.body.contains(&format!("data-day=\"{day}\"")));
    let csv = desk
        .get(&format!(
            "/console/analytics/events.csv?from={day}&to={day}"
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.disposition.unwrap().contains("events-"));
    assert!(
        csv.body.contains("date,event,channel,events"),
        "{}",
        csv.body
    );
    let search_line = format!("{day},search,online,{}", count_of(&after, "search"));
    assert!(csv.body.contains(&search_line), "{}", csv.body);
    let mut cashier = console(&app, "cashier1.sh001").await;
    let page = cashier.get("/console/analytics/events").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    a_batch_is_stored_once_and_counted,
    a_batch_is_stored_once_and_counted
);

/// The event writer stores the batches of many browsers in one transaction: each event is
/// still stored once, the first of an id wins (in batch order), each batch is answered for its
/// own events, and the daily counts hold exactly what was stored.
async fn batches_stored_together_are_answered_each_for_its_own(app: TestApp) {
    use retail_server::app::events::check_client_event;
    use retail_server::storage::events::{insert_batches, Inserted};

    // Two batches in one group, straight to the storage: the second repeats one of the
    // first's ids and one of its own.
    let now = now_ms();
    let new = |value: &Value| check_client_event(value, now).unwrap();
    let (a1, a2) = (
        event("page_view", json!({"dwell_ms": 1})),
        event("page_view", json!({"dwell_ms": 2})),
    );
    let b1 = event("page_view", json!({"dwell_ms": 3}));
    let first = vec![new(&a1), new(&a2)];
    let second = vec![new(&b1), new(&a2), new(&b1)];
    let before = count_of(&todays_counts(&app).await, "page_view");
    let done = insert_batches(&app.state.store, &[&first, &second])
        .await
        .unwrap();
    assert_eq!(
        done,
        vec![
            Inserted {
                stored: 2,
                duplicates: 0
            },
            Inserted {
                stored: 1,
                duplicates: 2
            }
        ]
    );
    let stored = events_named(&app, "page_view").await;
    assert_eq!(stored.len(), 3);
    assert_eq!(
        count_of(&todays_counts(&app).await, "page_view"),
        before + 3
    );

    // Sixteen browsers at once, each with five events of its own and the same five shared
    // ones: every event once, the shared ones answered as stored to exactly one browser.
    let shared: Vec<Value> = (0..5)
        .map(|i| event("search", json!({"term": format!("共享{i}")})))
        .collect();
    let searches_before = count_of(&todays_counts(&app).await, "search");
    let bodies: Vec<String> = (0..16)
        .map(|browser| {
            let mut events: Vec<Value> = (0..5)
                .map(|i| event("search", json!({"term": format!("浏览器{browser}-{i}")})))
                .collect();
            events.extend(shared.iter().cloned());
            json!({ "events": events }).to_string()
        })
        .collect();
    let answers =
        futures_util::future::join_all(bodies.iter().map(|body| beacon(&app, body))).await;
    let (mut accepted, mut duplicates) = (0, 0);
    for (status, body) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["errors"], json!([]));
        let (a, d) = (
            body["accepted"].as_i64().unwrap(),
            body["duplicates"].as_i64().unwrap(),
        );
        assert_eq!(a + d, 10, "{body}");
        assert!(a >= 5, "a browser's own events are its own: {body}");
        accepted += a;
        duplicates += d;
    }
    assert_eq!((accepted, duplicates), (16 * 5 + 5, 15 * 5));
    assert_eq!(
        count_of(&todays_counts(&app).await, "search"),
        searches_before + 85
    );
    assert_eq!(events_named(&app, "search").await.len(), 85);
}
crate::both_backends!(
    batches_stored_together_are_answered_each_for_its_own,
    batches_stored_together_are_answered_each_for_its_own
);

async fn bad_events_are_refused_one_by_one(app: TestApp) {
    let good = event("page_view", json!({"dwell_ms": 10}));
    let mut bad_id = event("page_view", json!({"dwell_ms": 10}));
    bad_id["id"] = json!("not-a-uuid");
    let mut future = event("page_view", json!({"dwell_ms": 10}));
    future["ts"] = json!(now_ms() + 86_400_000);
    let mut old = event("page_view", json!({"dwell_ms": 10}));
    old["ts"] = json!(now_ms() - 8 * 86_400_000);
    let mut version = event("page_view", json!({"dwell_ms": 10}));
    version["v"] = json!(2);
    let mut query = event("page_view", json!({"dwell_ms": 10}));
    query["page"] = json!("/search?q=x");
    let mut channel = event("page_view", json!({"dwell_ms": 10}));
    channel["channel"] = json!("pos");
    let also_good = event("click", json!({"target": "share"}));
    let batch = json!({"events": [
        good,                                                            // 0 kept
        bad_id,                                                          // 1
        event("purchase", json!({})),                                    // 2 unknown name
        event("click", json!({"target": "nope"})),                       // 3 not a target
        event("page_view", json!({"dwell_ms": -5})),                     // 4 negative
        event("page_view", json!({})),                                   // 5 missing
        event("search", json!({"term": "13812345678"})),                 // 6 a phone number
        event("search", json!({"term": "call +86 139-1234-5678 pls"})),  // 7 a phone number
        event("click", json!({"target": "pay", "phone": "x"})),          // 8 unknown property
        event("order_paid", json!({"order_no": "W1", "total_fen": 1})),  // 9 server only
        future,                                                          // 10
        old,                                                             // 11
        version,                                                         // 12
        query,                                                           // 13
        channel,                                                         // 14
        42,                                                              // 15
        also_good,                                                       // 16 kept
        good,                                                            // 17 twice in the batch
    ]});
    let (status, body) = beacon(&app, &batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], json!(2), "{body}");
    assert_eq!(body["duplicates"], json!(0));
    let errors = body["errors"].as_array().unwrap();
    let indexes: Vec<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        indexes,
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17],
        "{body}"
    );
    for i in [6, 7] {
        let message = errors.iter().find(|e| e["index"] == json!(i)).unwrap()["message"]
            .as_str()
            .unwrap();
        assert!(message.contains("phone number"), "{message}");
    }
    let stored = rows(&app, "SELECT props FROM events WHERE source = $1", "client").await;
    assert_eq!(stored.len(), 2);
    for r in &stored {
        assert!(
            !text(r, "props").unwrap().contains("138"),
            "no phone stored"
        );
    }

    // Whole batches refused: more than 100 events, more than 64 KiB, not a batch.
    let many: Vec<Value> = (0..101)
        .map(|_| event("page_view", json!({"dwell_ms": 1})))
        .collect();
    let (status, body) = beacon(&app, &json!({"events": many}).to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], json!("batch_too_large"));
    let huge = json!({"events": [event("search", json!({"term": "x".repeat(70_000)}))]});
    let (status, body) = beacon(&app, &huge.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], json!("batch_too_large"));
    for not_a_batch in ["", "nope", "[]", "{}", "{\"events\": 3}"] {
        let (status, body) = beacon(&app, not_a_batch).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{not_a_batch}: {body}");
        assert_eq!(body["error"]["code"], json!("invalid_body"));
    }
    let stored = rows(
        &app,
        "SELECT event_id FROM events WHERE source = $1",
        "client",
    )
    .await;
    assert_eq!(stored.len(), 2, "nothing more stored");
}
crate::both_backends!(
    bad_events_are_refused_one_by_one,
    bad_events_are_refused_one_by_one
);

async fn batches_are_rate_limited_per_address(app: TestApp) {
    for _ in 0..3 {
        let batch = json!({"events": [event("page_view", json!({"dwell_ms": 1}))]});
        let (status, body) = beacon(&app, &batch.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let batch = json!({"events": [event("page_view", json!({"dwell_ms": 1}))]});
    let (status, body) = beacon(&app, &batch.to_string()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], json!("rate_limited"));
    // Another client address is not held up.
    let mut other = Browser::from_address(&app, "127.0.0.2".parse().unwrap());
    let page = other
        .post_body("/api/v1/events", "text/plain", batch.to_string())
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}
crate::both_backends!(
    batches_are_rate_limited_per_address,
    batches_are_rate_limited_per_address,
    |s| s.events.batches_per_minute_per_address = 3
);

async fn the_server_records_an_order_placed_paid_and_handed_over(app: TestApp) {
    let phone = "13800190001";
    let (_, sku) = a_sku(&app, "纯牛奶").await;
    let mut b = shopper(&app, phone).await;
    let member = member_id(&app, phone).await;
    let order = pickup_order(&mut b, sku).await;
    let placed = events_named(&app, "order_placed").await;
    let mine: Vec<_> = placed
        .iter()
        .filter(|(m, _, _, _)| m.as_deref() == Some(member.as_str()))
        .collect();
    assert_eq!(mine.len(), 1, "{placed:?}");
    let (_, store, channel, props) = mine[0];
    assert_eq!(store.as_deref(), Some("SH001"));
    assert_eq!(channel, "online");
    assert_eq!(props["fulfilment"], json!("pickup"));
    assert!(props["total_fen"].as_i64().unwrap() > 0);
    let order_no = props["order_no"].as_str().unwrap().to_owned();

    crate::bus::pay(&app, &order).await;
    let paid = events_named(&app, "order_paid").await;
    let paid: Vec<_> = paid
        .iter()
        .filter(|(_, _, _, p)| p["order_no"] == json!(order_no))
        .collect();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].0.as_deref(), Some(member.as_str()));
    assert_eq!(paid[0].1.as_deref(), Some("SH001"));

    // Ready, then handed over with the pickup code.
    let manager = app.login("mgr.sh001").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/ready"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = retail_server::storage::orders::get(&app.state.store, order.parse().unwrap())
        .await
        .unwrap()
        .pickup_code
        .unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/pickup"),
            Some(&manager),
            json!({"pickup_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let handed = events_named(&app, "pickup_handed_over").await;
    let handed: Vec<_> = handed
        .iter()
        .filter(|(_, _, _, p)| p["order_no"] == json!(order_no))
        .collect();
    assert_eq!(handed.len(), 1);
    assert_eq!(
        handed[0].0.as_deref(),
        Some(member.as_str()),
        "the order's member"
    );
    assert_eq!(handed[0].1.as_deref(), Some("SH001"), "the order's store");

    // No personal field in any server event.
    let all = rows(&app, "SELECT props FROM events WHERE source = $1", "server").await;
    for r in &all {
        let props = text(r, "props").unwrap();
        assert!(
            !props.contains(phone) && !props.contains("address"),
            "{props}"
        );
    }
}
crate::both_backends!(
    the_server_records_an_order_placed_paid_and_handed_over,
    the_server_records_an_order_placed_paid_and_handed_over
);

async fn an_opted_out_member_is_stored_without_their_id(app: TestApp) {
    let phone = "13800190002";
    let (_, sku) = a_sku(&app, "纯牛奶").await;
    let mut b = shopper(&app, phone).await;
    let member = member_id(&app, phone).await;
    let send =
        |name: &str| json!({"events": [event("click", json!({"target": name}))]}).to_string();

    // Logged in: the shop session's member comes with the page's events.
    let page = b
        .post_body("/api/v1/events", "text/plain", send("checkout"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let me = b.get("/me").await;
    assert!(me.body.contains("id=\"personalisation\""));
    assert!(me.body.contains("已开启"));

    // Opted out: no member id on their events from now on, client or server.
    let page = b.post_csrf("/me/personalisation", &[("out", "1")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(b.get("/me").await.body.contains("已关闭"));
    let page = b
        .post_body("/api/v1/events", "text/plain", send("pay"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    pickup_order(&mut b, sku).await;

    let clicks = events_named(&app, "click").await;
    let by_target = |t: &str| {
        clicks
            .iter()
            .find(|(_, _, _, p)| p["target"] == json!(t))
            .unwrap()
            .0
            .clone()
    };
    assert_eq!(by_target("checkout").as_deref(), Some(member.as_str()));
    assert_eq!(by_target("pay"), None, "opted out");
    let placed = events_named(&app, "order_placed").await;
    let last = placed.last().unwrap();
    assert_eq!(last.0, None, "opted out: {placed:?}");
    assert_eq!(last.1.as_deref(), Some("SH001"), "the store is kept");

    // Back in: the member's id again.
    let page = b.post_csrf("/me/personalisation", &[("out", "0")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = b
        .post_body("/api/v1/events", "text/plain", send("share"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let clicks = events_named(&app, "click").await;
    let share = clicks
        .iter()
        .find(|(_, _, _, p)| p["target"] == json!("share"))
        .unwrap();
    assert_eq!(share.0.as_deref(), Some(member.as_str()));

    // The member's data download holds the setting and their events (not the opted-out one).
    let data: Value = serde_json::from_str(&b.get("/me/data").await.body).unwrap();
    assert_eq!(data["personalisation_opt_out"], json!(false));
    let targets: Vec<&str> = data["tracked_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == json!("click"))
        .map(|e| e["props"]["target"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"checkout") && targets.contains(&"share"),
        "{targets:?}"
    );
    assert!(!targets.contains(&"pay"), "{targets:?}");
}
crate::both_backends!(
    an_opted_out_member_is_stored_without_their_id,
    an_opted_out_member_is_stored_without_their_id
);

async fn the_sweep_deletes_raw_events_past_retention_and_counts_match(app: TestApp) {
    let batch = json!({"events": [
        event("page_view", json!({"dwell_ms": 1})),
        event("page_view", json!({"dwell_ms": 2})),
        event("search", json!({"term": "面包"})),
    ]});
    let ids: Vec<String> = batch["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let (status, body) = beacon(&app, &batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The daily counts match the raw events, per name and channel (nothing deleted yet).
    let raw = {
        let mut tx = app.state.store.begin().await.unwrap();
        sqlx::query("SELECT name, channel, COUNT(*) AS n FROM events GROUP BY name, channel ORDER BY name, channel")
            .fetch_all(&mut *tx)
            .await
            .unwrap()
            .iter()
            .map(|r| (text(r, "name").unwrap(), text(r, "channel").unwrap(), sqlx::Row::get::<i64, _>(r, "n")))
            .collect::<Vec<_>>()
    };
    let rolled = {
        let mut tx = app.state.store.begin().await.unwrap();
        sqlx::query("SELECT name, channel, CAST(SUM(events) AS BIGINT) AS n FROM event_days GROUP BY name, channel ORDER BY name, channel")
            .fetch_all(&mut *tx)
            .await
            .unwrap()
            .iter()
            .map(|r| (text(r, "name").unwrap(), text(r, "channel").unwrap(), sqlx::Row::get::<i64, _>(r, "n")))
            .collect::<Vec<_>>()
    };
    assert_eq!(raw, rolled);
    let before = todays_counts(&app).await;

    // One happened 91 days ago, one 89: only the first is past the 90 days kept.
    let day = 86_400_000_i64;
    for (id, age) in [(&ids[0], 91 * day), (&ids[1], 89 * day)] {
        let mut tx = app.state.store.begin().await.unwrap();
        sqlx::query("UPDATE events SET occurred_at = $1 WHERE event_id = $2")
            .bind(now_ms() - age)
            .bind(id.clone())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(
        retail_server::app::events::sweep(&app.state).await.unwrap(),
        1
    );
    assert_eq!(
        retail_server::app::events::sweep(&app.state).await.unwrap(),
        0
    );
    let left = rows(
        &app,
        "SELECT event_id FROM events WHERE source = $1",
        "client",
    )
    .await;
    let left: Vec<String> = left.iter().map(|r| text(r, "event_id").unwrap()).collect();
    assert!(!left.contains(&ids[0]));
    assert!(left.contains(&ids[1]) && left.contains(&ids[2]));
    // The daily counts stay.
    assert_eq!(todays_counts(&app).await, before);
    // A resend of the deleted event is too old by then to be taken again; a resend of a kept
    // one is a duplicate.
    let (_, body) = beacon(&app, &json!({"events": [batch["events"][1]]}).to_string()).await;
    assert_eq!(body["duplicates"], json!(1));
}
crate::both_backends!(
    the_sweep_deletes_raw_events_past_retention_and_counts_match,
    the_sweep_deletes_raw_events_past_retention_and_counts_match
);

/// In a real browser: a shopper opens a product page, taps "add to cart" (a marked button),
/// and leaves for the cart; the page's beacon brings the product page's view with its dwell
/// time and the click, under the browser's anonymous device id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_page_beacons_its_view_and_the_marked_click() {
    use crate::browser::{browser, browser_available, click_to_next_page, milk, start_driver};
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let driver = start_driver().await;
    let product = milk(&app).await;
    let phone = browser(&driver, true).await;
    phone
        .goto(&format!("{}/p/{product}", app.url))
        .await
        .unwrap();
    click_to_next_page(&phone, "#add-to-cart").await;
    phone.goto(&format!("{}/cart", app.url)).await.unwrap();
    let device = phone
        .execute("return localStorage.getItem('rt_device');", vec![])
        .await
        .unwrap();
    let device = device.as_str().expect("a device id").to_owned();
    Uuid::parse_str(&device).expect("the device id is a UUID");
    let page = format!("/p/{product}");
    let mut found = None;
    for _ in 0..300 {
        let got = rows(
            &app,
            "SELECT name, page, device_id, props FROM events WHERE device_id = $1",
            &device,
        )
        .await;
        let view = got.iter().find(|r| {
            text(r, "name").as_deref() == Some("page_view")
                && text(r, "page").as_deref() == Some(page.as_str())
        });
        let click = got
            .iter()
            .find(|r| text(r, "name").as_deref() == Some("click"));
        if let (Some(view), Some(click)) = (view, click) {
            found = Some((
                serde_json::from_str::<Value>(&text(view, "props").unwrap()).unwrap(),
                serde_json::from_str::<Value>(&text(click, "props").unwrap()).unwrap(),
            ));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (view, click) = found.expect("the beacon's page view and click arrived");
    assert!(view["dwell_ms"].as_i64().unwrap() > 0, "{view}");
    assert_eq!(click["target"], json!("add_to_cart"));
    assert!(click["sku"].as_str().is_some(), "{click}");
    phone.close().await.unwrap();
}

async fn a_claimed_coupon_is_an_event_of_its_member(app: TestApp) {
    use crate::pricing::{coupon_template, member_code, register_member};
    let admin = app.login("admin").await;
    let template = coupon_template(&app, &admin, "claim", Some(5)).await;
    let member = register_member(&app, &admin, "13900190003").await;
    let code = member_code(&app, &admin, member).await;
    let coupon = Uuid::now_v7();
    for _ in 0..2 {
        // A retry answers the same coupon: one event.
        let (status, body) = app
            .post(
                &format!("/api/v1/coupon-templates/{template}/claim"),
                None,
                json!({"coupon_id": coupon, "member_code": code}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let claimed = events_named(&app, "coupon_claimed").await;
    let mine: Vec<_> = claimed
        .iter()
        .filter(|(_, _, _, p)| p["coupon_id"] == json!(coupon.to_string()))
        .collect();
    assert_eq!(mine.len(), 1, "{claimed:?}");
    assert_eq!(mine[0].0, Some(member.to_string()));
    assert_eq!(mine[0].3["template_id"], json!(template.to_string()));
}
crate::both_backends!(
    a_claimed_coupon_is_an_event_of_its_member,
    a_claimed_coupon_is_an_event_of_its_member
);

async fn a_pushed_lane_sale_is_recorded_once(app: TestApp) {
    use crate::sales::{member, push, register_lane, sale, sku_ids};
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane events").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let (member_id, _, _) = member(&app, &admin, "13800138001").await;
    let one = sale(
        "SH001",
        Some(&member_id),
        &[(&skus[0], 2, 350), (&skus[1], 1, 1200)],
        &[],
    );
    let results = push(&app, &lane, std::slice::from_ref(&one)).await;
    assert_eq!(results[0]["outcome"], json!("applied"), "{results:?}");
    // The lane resends the push (a duplicate): still one event.
    push(&app, &lane, std::slice::from_ref(&one)).await;
    let sales = events_named(&app, "lane_sale").await;
    let mine: Vec<_> = sales
        .iter()
        .filter(|(m, _, _, _)| m.as_deref() == Some(member_id.as_str()))
        .collect();
    assert_eq!(mine.len(), 1, "{sales:?}");
    let (_, store, channel, props) = mine[0];
    assert_eq!(store.as_deref(), Some("SH001"));
    assert_eq!(channel, "pos");
    assert_eq!(props["total_fen"], json!(1900));
    assert_eq!(props["lines"], json!(2));
}
crate::both_backends!(
    a_pushed_lane_sale_is_recorded_once,
    a_pushed_lane_sale_is_recorded_once
);

async fn a_refund_paid_back_is_recorded_with_the_orders_store(app: TestApp) {
    let (order, _, fen) = crate::refund_approvals::paid_order(&app, "SH001").await;
    let manager = app.login("mgr.sh001").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/cancel"),
            Some(&manager),
            json!({"reason": "缺货"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The sandbox pays the refund back at once; its event follows.
    retail_testkit::wait_until(
        "the refund's event",
        std::time::Duration::from_secs(60),
        || async { !events_named(&app, "order_refunded").await.is_empty() },
    )
    .await;
    let refunded = events_named(&app, "order_refunded").await;
    assert_eq!(refunded.len(), 1, "{refunded:?}");
    let (member, store, _, props) = &refunded[0];
    assert_eq!(member, &None, "an anonymous order");
    assert_eq!(store.as_deref(), Some("SH001"), "the order's store");
    assert_eq!(props["amount_fen"], json!(fen));
}
crate::both_backends!(
    a_refund_paid_back_is_recorded_with_the_orders_store,
    a_refund_paid_back_is_recorded_with_the_orders_store
);
