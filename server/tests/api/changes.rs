//! Change feeds (issue 20): every change once, in commit order, resumable by cursor, with no gap
//! or duplicate while orders are placed concurrently; bad cursors, feed names and callers
//! refused.

use std::collections::{BTreeSet, HashSet};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_server::storage::stock::{apply_movements, Movement, MovementKind};

use crate::orders::{pickup_order, some_sku};
use crate::support::TestApp;

/// One page of `feed` after `cursor`.
async fn page(app: &TestApp, token: &str, feed: &str, cursor: Option<&str>, limit: i64) -> Value {
    let mut path = format!("/api/v1/changes/{feed}?limit={limit}");
    if let Some(cursor) = cursor {
        path.push_str(&format!("&cursor={cursor}"));
    }
    let (status, body) = app.get(&path, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Reads `feed` from `cursor` until a page is not full: the entries and the cursor to go on.
async fn read_all(
    app: &TestApp,
    token: &str,
    feed: &str,
    mut cursor: Option<String>,
    limit: i64,
) -> (Vec<Value>, String) {
    let mut entries = Vec::new();
    loop {
        let body = page(app, token, feed, cursor.as_deref(), limit).await;
        entries.extend(body["items"].as_array().unwrap().iter().cloned());
        cursor = Some(body["next_cursor"].as_str().unwrap().to_owned());
        if !body["has_more"].as_bool().unwrap() {
            return (entries, cursor.unwrap());
        }
    }
}

/// The cursor at the current end of `feed`.
async fn end_cursor(app: &TestApp, token: &str, feed: &str) -> String {
    read_all(app, token, feed, None, 1000).await.1
}

fn seqs(entries: &[Value]) -> Vec<i64> {
    entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

fn assert_rising(entries: &[Value]) {
    let seqs = seqs(entries);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "not strictly rising: {seqs:?}"
    );
}

/// Puts 200 more units of `sku` on hand at SH001 (a ledgered adjustment), enough for every
/// order of a test.
async fn stock_up(app: &TestApp, sku: Uuid) {
    let mut tx = app.state.store.begin().await.unwrap();
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: "SH001",
            sku_id: sku,
            kind: MovementKind::Adjustment,
            on_hand_delta: 200,
            reserved_delta: 0,
            reason: "test setup",
            actor: "test",
            ref_id: None,
            client_ts: 0,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn place(app: &TestApp, sku: Uuid) -> Uuid {
    let (status, body) = app.post("/api/v1/orders", None, pickup_order(sku, 1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

/// Orders, their stock reservations and a new member each appear once, in order, with their
/// current records; an empty page answers the same cursor.
async fn changes_appear_once_in_order(app: TestApp) {
    let token = app.login("admin").await;
    let (sku, _) = some_sku(&app).await;
    let orders_at = end_cursor(&app, &token, "orders").await;
    let stock_at = end_cursor(&app, &token, "stock").await;
    let members_at = end_cursor(&app, &token, "members").await;

    let mut placed = Vec::new();
    for _ in 0..3 {
        placed.push(place(&app, sku).await);
    }
    let (entries, next) = read_all(&app, &token, "orders", Some(orders_at), 100).await;
    assert_rising(&entries);
    let created: Vec<String> = entries
        .iter()
        .filter(|e| e["kind"] == "created")
        .map(|e| e["entity_id"].as_str().unwrap().to_owned())
        .collect();
    let wanted: Vec<String> = placed.iter().map(Uuid::to_string).collect();
    assert_eq!(created, wanted, "{entries:?}");
    for entry in &entries {
        let (status, order) = app
            .get(
                &format!("/api/v1/orders/{}", entry["entity_id"].as_str().unwrap()),
                Some(&token),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(entry["record"]["id"], order["id"]);
        assert_eq!(entry["record"]["status"], order["status"]);
        assert_eq!(entry["record"]["lines"], order["lines"]);
        assert_eq!(entry["record"]["pickup_qr"], order["pickup_qr"]);
        assert!(
            order["pickup_qr"].is_null(),
            "unpaid: nothing to collect yet {order}"
        );
        assert!(entry["committed_at"].as_str().is_some());
    }
    // Nothing new: an empty page and the same cursor.
    let again = page(&app, &token, "orders", Some(&next), 100).await;
    assert_eq!(again["items"], json!([]));
    assert_eq!(again["next_cursor"], next.as_str());
    assert_eq!(again["has_more"], false);

    // Paid, it can be collected: its record carries the signed pickup QR, as its read does.
    let paid = placed[0].to_string();
    crate::bus::pay(&app, &paid).await;
    let (after_pay, _) = read_all(&app, &token, "orders", Some(next.clone()), 100).await;
    let change = after_pay
        .iter()
        .rev()
        .find(|e| e["entity_id"] == paid.as_str())
        .expect("the payment's change");
    assert_eq!(change["record"]["status"], "paid", "{change}");
    let (_, order) = app
        .get(&format!("/api/v1/orders/{paid}"), Some(&token))
        .await;
    assert!(
        order["pickup_qr"]
            .as_str()
            .is_some_and(|qr| qr.starts_with("PK1.")),
        "{order}"
    );
    assert_eq!(change["record"]["pickup_qr"], order["pickup_qr"]);

    // Each reservation changed the SKU's level at SH001.
    let (stock, _) = read_all(&app, &token, "stock", Some(stock_at), 100).await;
    assert_rising(&stock);
    let key = format!("SH001/{sku}");
    let mine: Vec<&Value> = stock.iter().filter(|e| e["entity_id"] == key).collect();
    assert!(mine.len() >= 3, "{stock:?}");
    let (_, levels) = app
        .get(
            &format!("/api/v1/stock?location_id=SH001&sku_id={sku}"),
            Some(&token),
        )
        .await;
    assert_eq!(
        mine[0]["record"], levels["items"][0],
        "the level as GET /stock"
    );

    // A registration is a member change whose record is the member's GET.
    let member = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(&token),
            json!({"id": member, "phone": "13900001111", "name": "变更会员"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (members, _) = read_all(&app, &token, "members", Some(members_at), 100).await;
    let created: Vec<&Value> = members
        .iter()
        .filter(|e| e["entity_id"] == member.to_string().as_str())
        .collect();
    assert!(!created.is_empty(), "{members:?}");
    assert_eq!(created[0]["kind"], "created");
    let (_, got) = app
        .get(&format!("/api/v1/members/{member}"), Some(&token))
        .await;
    assert_eq!(created.last().unwrap()["record"], got);
}
crate::both_backends!(changes_appear_once_in_order, changes_appear_once_in_order);

/// Reading a page at a time resumes exactly where the last page ended.
async fn paging_resumes_exactly(app: TestApp) {
    let token = app.login("admin").await;
    let (sku, _) = some_sku(&app).await;
    let start = end_cursor(&app, &token, "orders").await;
    for _ in 0..5 {
        place(&app, sku).await;
    }
    let (whole, end) = read_all(&app, &token, "orders", Some(start.clone()), 1000).await;
    let (paged, paged_end) = read_all(&app, &token, "orders", Some(start), 1).await;
    assert!(whole.len() >= 5);
    assert_eq!(seqs(&whole), seqs(&paged));
    assert_eq!(end, paged_end);
}
crate::both_backends!(paging_resumes_exactly, paging_resumes_exactly);

/// Many shoppers order at once while a reader follows the feed with its cursor: the reader gets
/// every change exactly once, in rising order, the same as a full read afterwards.
async fn concurrent_writers_leave_no_gap(app: TestApp) {
    let token = app.login("admin").await;
    let (sku, _) = some_sku(&app).await;
    stock_up(&app, sku).await;
    let start = end_cursor(&app, &token, "orders").await;
    let mut writers = Vec::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/orders", app.url);
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..6 {
                let resp = client
                    .post(&url)
                    .json(&pickup_order(sku, 1))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                let body: Value = resp.json().await.unwrap();
                ids.push(body["id"].as_str().unwrap().to_owned());
            }
            ids
        }));
    }
    // Follow the feed while they write.
    let mut followed = Vec::new();
    let mut cursor = start.clone();
    while !writers.iter().all(|w| w.is_finished()) {
        let body = page(&app, &token, "orders", Some(&cursor), 7).await;
        followed.extend(body["items"].as_array().unwrap().iter().cloned());
        cursor = body["next_cursor"].as_str().unwrap().to_owned();
        tokio::task::yield_now().await;
    }
    let mut placed = HashSet::new();
    for writer in writers {
        placed.extend(writer.await.unwrap());
    }
    let (rest, _) = read_all(&app, &token, "orders", Some(cursor), 7).await;
    followed.extend(rest);
    assert_rising(&followed);
    let (whole, _) = read_all(&app, &token, "orders", Some(start), 1000).await;
    assert_eq!(seqs(&followed), seqs(&whole), "followed = read afterwards");
    let created: BTreeSet<String> = whole
        .iter()
        .filter(|e| e["kind"] == "created")
        .map(|e| e["entity_id"].as_str().unwrap().to_owned())
        .collect();
    let placed: BTreeSet<String> = placed.into_iter().collect();
    assert_eq!(created, placed);
}
crate::both_backends!(
    concurrent_writers_leave_no_gap,
    concurrent_writers_leave_no_gap
);

/// A cursor that is not one, another feed's cursor, a bad limit, an unknown feed and a caller
/// other than head office are refused.
async fn bad_requests_are_refused(app: TestApp) {
    let token = app.login("admin").await;
    let (status, body) = app
        .get("/api/v1/changes/orders?cursor=not-a-cursor", Some(&token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_cursor");
    let stock_cursor = end_cursor(&app, &token, "stock").await;
    let (status, body) = app
        .get(
            &format!("/api/v1/changes/orders?cursor={stock_cursor}"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_cursor");
    let (status, _) = app
        .get("/api/v1/changes/orders?limit=0", Some(&token))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app.get("/api/v1/changes/coupons", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app.get("/api/v1/changes/orders", Some(&manager)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/changes/orders", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
crate::both_backends!(bad_requests_are_refused, bad_requests_are_refused);

/// Moves every change of `feed` committed so far two days into the past.
async fn age_changes(app: &TestApp, feed: &str) {
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE changes SET committed_at = committed_at - 172800000 WHERE feed = $1")
        .bind(feed)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn keep_one_day(settings: &mut retail_server::config::Settings) {
    settings.changes.retention_days = 1;
    // The deliverers look for endpoints every five ticks: none made during the test is
    // picked up, so the cursors the test sets stay where it sets them.
    settings.webhooks.tick_millis = 60_000;
}

/// Changes past retention are pruned: a reader whose cursor had not passed them is told it
/// missed some (409 `cursor_expired`) instead of getting a page with a hole; a reader without a
/// cursor starts at the oldest change kept; a disabled webhook endpoint whose backlog was pruned
/// is not enabled across the hole; an active endpoint's backlog is kept however old.
async fn pruned_changes_are_never_silently_skipped(app: TestApp) {
    let token = app.login("admin").await;
    let (sku, _) = some_sku(&app).await;
    stock_up(&app, sku).await;
    let start = end_cursor(&app, &token, "orders").await;
    // A middle platform's endpoint, disabled, left behind at `start`.
    let (status, endpoint) = app
        .post(
            "/api/v1/webhooks",
            Some(&token),
            json!({"id": Uuid::now_v7(), "url": "http://127.0.0.1:9/hook", "events": ["orders"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{endpoint}");
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("/api/v1/webhooks/{endpoint_id}/disable"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..3 {
        place(&app, sku).await;
    }
    let (before, _) = read_all(&app, &token, "orders", Some(start.clone()), 1000).await;
    assert!(before.len() >= 3);
    age_changes(&app, "orders").await;
    let young = place(&app, sku).await;

    let pruned = retail_server::app::changes::prune(&app.state)
        .await
        .unwrap();
    assert!(pruned >= 3, "{pruned}");
    let (status, body) = app
        .get(
            &format!("/api/v1/changes/orders?cursor={start}"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "cursor_expired");
    let (kept, _) = read_all(&app, &token, "orders", None, 1000).await;
    let old: BTreeSet<i64> = seqs(&before).into_iter().collect();
    assert!(kept
        .iter()
        .all(|e| !old.contains(&e["seq"].as_i64().unwrap())));
    assert!(
        kept.iter()
            .any(|e| e["entity_id"] == young.to_string().as_str()),
        "the young change is kept: {kept:?}"
    );
    // Pruning again finds nothing more.
    assert_eq!(
        retail_server::app::changes::prune(&app.state)
            .await
            .unwrap(),
        0
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/webhooks/{endpoint_id}/enable"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "backlog_pruned");

    // What an active endpoint has not yet turned into deliveries stays, however old.
    let first = place(&app, sku).await;
    let second = place(&app, sku).await;
    age_changes(&app, "orders").await;
    let (recent, _) = read_all(&app, &token, "orders", None, 1000).await;
    let seq_of = |id: Uuid| {
        recent
            .iter()
            .filter(|e| e["entity_id"] == id.to_string().as_str())
            .map(|e| e["seq"].as_i64().unwrap())
            .max()
            .unwrap()
    };
    let hold = seq_of(first);
    // An active endpoint that has taken everything up to `first` and no further.
    let (status, active) = app
        .post(
            "/api/v1/webhooks",
            Some(&token),
            json!({"id": Uuid::now_v7(), "url": "http://127.0.0.1:9/hook", "events": ["orders"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE webhook_endpoints SET cursor = $1 WHERE id = $2")
        .bind(hold)
        .bind(active["id"].as_str().unwrap())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    retail_server::app::changes::prune(&app.state)
        .await
        .unwrap();
    let (left, _) = read_all(&app, &token, "orders", None, 1000).await;
    assert!(left.iter().all(|e| e["seq"].as_i64().unwrap() > hold));
    assert!(left
        .iter()
        .any(|e| e["seq"].as_i64().unwrap() == seq_of(second)));
}
crate::both_backends!(
    pruned_changes_are_never_silently_skipped,
    pruned_changes_are_never_silently_skipped,
    super::keep_one_day
);
