//! Cash control at the lanes (issue 21): a lane's cash events stored exactly once by client id,
//! bad events rejected alone, another lane's ids and shifts refused; the console's lane cash
//! page shows each store's Z reports and cash differences (managers their store only), in a
//! real browser too.

use axum::http::StatusCode;
use retail_domain::ids::new_id;
use serde_json::{json, Value};

use crate::sales::register_lane;
use crate::support::{Backend, TestApp};
use crate::web::console;

fn event(kind: &str, shift: &str, extra: Value) -> Value {
    let mut e = json!({
        "id": new_id(), "kind": kind, "shift_id": shift, "cashier": "cashier1.sh001",
        "at": "2026-12-06T08:00:00Z",
    });
    if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            e.insert(k.clone(), v.clone());
        }
    }
    e
}

fn closed(shift: &str, expected: &str, counted: &str, difference: &str) -> Value {
    event(
        "shift_closed",
        shift,
        json!({"amount": counted, "z_report": {
            "opened_at": "2026-12-06T08:00:00Z", "closed_at": "2026-12-06T16:00:00Z",
            "sales": 3, "sales_total": "88.00", "returns": 0, "refunds": "0.00",
            "opening_cash": "100.00", "cash_sales": "38.00", "cash_back": "0.00",
            "cash_in": "50.00", "cash_out": "30.00", "expected_cash": expected,
            "counted_cash": counted, "difference": difference, "handed_over_to": "cashier2.sh001"
        }}),
    )
}

async fn push(app: &TestApp, lane: &str, events: &[Value]) -> (StatusCode, Value) {
    app.post(
        "/api/v1/pos/cash-events",
        Some(lane),
        json!({ "events": events }),
    )
    .await
}

fn outcomes(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["outcome"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn events_are_stored_once_and_shown_per_store(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane cash 1").await;
    let (_, other) = register_lane(&app, &admin, "SH002", "Lane cash 2").await;
    let shift = new_id().to_string();
    let batch = vec![
        event("shift_opened", &shift, json!({"amount": "100.00"})),
        event(
            "cash_in",
            &shift,
            json!({"amount": "50.00", "reason": "change float"}),
        ),
        event(
            "cash_out",
            &shift,
            json!({"amount": "30.00", "reason": "safe drop"}),
        ),
        event("offline_on", &shift, json!({"approved_by": "mgr.sh001"})),
        closed(&shift, "158.00", "157.50", "-0.50"),
        // Bad ones: no reason, an offline switch nobody approved, a wrong difference.
        event("cash_out", &shift, json!({"amount": "1.00"})),
        event("offline_off", &shift, json!({})),
        closed(&new_id().to_string(), "10.00", "10.00", "1.00"),
    ];
    let (status, body) = push(&app, &lane, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        outcomes(&body),
        [
            "applied", "applied", "applied", "applied", "applied", "rejected", "rejected",
            "rejected"
        ]
    );
    // The same push again: nothing new.
    let (_, body) = push(&app, &lane, &batch[..5]).await;
    assert_eq!(outcomes(&body), ["duplicate"; 5]);
    // Another lane can neither reuse an id nor report on this lane's shift.
    let (_, body) = push(&app, &other, &batch[1..2]).await;
    assert_eq!(outcomes(&body), ["rejected"]);
    let (_, body) = push(
        &app,
        &other,
        &[event(
            "cash_in",
            &shift,
            json!({"amount": "1.00", "reason": "x"}),
        )],
    )
    .await;
    assert_eq!(outcomes(&body), ["rejected"]);
    // Staff cannot push.
    let (status, _) = push(&app, &admin, &batch[..1]).await;
    assert!(status.is_client_error());

    let mut store = app.state.store.begin().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lane_cash_events")
        .fetch_one(&mut *store)
        .await
        .unwrap();
    assert_eq!(n, 5);
    let diff: i64 = sqlx::query_scalar("SELECT difference FROM lane_shifts WHERE id = $1")
        .bind(&shift)
        .fetch_one(&mut *store)
        .await
        .unwrap();
    assert_eq!(diff, -50);
    store.rollback().await.unwrap();

    // Head office sees every store; the manager their own; a cashier nothing.
    let mut office = console(&app, "admin").await;
    let page = office.get("/console/cash").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("data-shift=\"{shift}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("-0.50") && page.body.contains("Lane cash 1"));
    assert!(page.body.contains("safe drop") && page.body.contains("mgr.sh001"));
    let mut mgr2 = console(&app, "mgr.sh002").await;
    let page = mgr2.get("/console/cash").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(&shift), "another store's Z report");
    let page = mgr2.get("/console/cash?store=SH001").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let mut mgr = console(&app, "mgr.sh001").await;
    let page = mgr.get("/console/cash").await;
    assert!(page.body.contains(&shift));
    let mut till = console(&app, "cashier1.sh001").await;
    let page = till.get("/console/cash").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    events_are_stored_once_and_shown_per_store,
    events_are_stored_once_and_shown_per_store
);

/// Head office opens the lane cash page in a browser: the Z report's difference stands out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cash_page_in_a_browser() {
    use crate::browser::{browser, browser_available, console_login, start_driver, text_of};
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane browser").await;
    let shift = new_id().to_string();
    let (_, body) = push(
        &app,
        &lane,
        &[
            event("shift_opened", &shift, json!({"amount": "100.00"})),
            closed(&shift, "158.00", "157.50", "-0.50"),
        ],
    )
    .await;
    assert_eq!(outcomes(&body), ["applied", "applied"]);
    let driver = start_driver().await;
    let client = browser(&driver, false).await;
    console_login(&client, &app, "admin").await;
    client
        .goto(&format!("{}/console/cash", app.url))
        .await
        .unwrap();
    let css = format!("tr[data-shift=\"{shift}\"] td.difference");
    assert_eq!(text_of(&client, &css).await, "-0.50");
    let lane_cell = text_of(&client, &format!("tr[data-shift=\"{shift}\"] td.lane")).await;
    assert_eq!(lane_cell, "Lane browser");
    client.close().await.unwrap();
}
