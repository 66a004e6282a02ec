//! The store handheld (`/console/pda`, issue 21) in a real headless Chromium (SQLite): a manager opens a
//! count, the network drops (DevTools offline emulation), scans are queued in `localStorage`,
//! the network comes back and the queue is replayed; the queue is then replayed again (as after
//! a lost answer) and nothing doubles. An unknown code is listed as refused; the manager
//! approves the count in the console and on hand becomes the counted quantity.

use std::time::Duration;

use retail_server::storage;
use serde_json::json;

use crate::browser::{
    browser, browser_available, click, console_login, devtools, start_driver, text_of, type_into,
    wait_for_text, Shots,
};
use crate::support::{Backend, TestApp};

async fn scan(client: &fantoccini::Client, code: &str) {
    type_into(client, "#scan", code).await;
    click(client, "#scan-go").await;
}

async fn set_offline(client: &fantoccini::Client, offline: bool) {
    devtools(client, "Network.enable", json!({})).await;
    devtools(
        client,
        "Network.emulateNetworkConditions",
        json!({"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pda_scans_offline_are_replayed_once_and_the_count_is_approved() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let token = app.login("mgr.sh001").await;
    let (_, levels) = app
        .get("/api/v1/stock?location_id=SH001&limit=50", Some(&token))
        .await;
    let items: Vec<_> = levels["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["on_hand"].as_i64().unwrap() > 5)
        .take(2)
        .cloned()
        .collect();
    let code_a = items[0]["sku_code"].as_str().unwrap().to_owned();
    let code_b = items[1]["sku_code"].as_str().unwrap().to_owned();
    let sku_a = items[0]["sku_id"].as_str().unwrap().to_owned();

    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    console_login(&phone, &app, "mgr.sh001").await;
    phone
        .goto(&format!("{}/console/pda", app.url))
        .await
        .unwrap();
    wait_for_text(&phone, "#net", "在线").await;

    // A count of one zone, opened online.
    type_into(&phone, "#zone", "B2 货架").await;
    click(&phone, "#open-count").await;
    wait_for_text(&phone, "#sent-count", "1").await;
    let sessions = storage::store_ops::list_counts(&app.state.store, Some("SH001"), None)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    let session = sessions[0].id;

    // The network drops: four scans are queued, none reaches the server.
    set_offline(&phone, true).await;
    for code in [&code_a, &code_a, &code_b, &code_a] {
        scan(&phone, code).await;
    }
    wait_for_text(&phone, "#queue-count", "4").await;
    wait_for_text(&phone, "#net", "离线").await;
    shots.take(&phone, "pda-offline-360").await;
    let counted = storage::store_ops::get_count(&app.state.store, session)
        .await
        .unwrap();
    assert_eq!(counted.scans, 0, "nothing arrived while offline");
    let queued: String = phone
        .execute("return localStorage.getItem('pda.outbox.SH001');", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();

    // Back online: the queue drains in order.
    set_offline(&phone, false).await;
    phone.execute("window.pdaFlush();", vec![]).await.unwrap();
    wait_for_text(&phone, "#queue-count", "0").await;
    wait_for_text(&phone, "#sent-count", "5").await;
    // Replayed once more (answers lost on the way back): the server adds nothing.
    phone
        .execute(
            "localStorage.setItem('pda.outbox.SH001', arguments[0]); window.pdaFlush();",
            vec![json!(queued)],
        )
        .await
        .unwrap();
    wait_for_text(&phone, "#sent-count", "9").await;
    wait_for_text(&phone, "#queue-count", "0").await;
    wait_for_text(&phone, "#sent-log", "(replay)").await;
    let counted = storage::store_ops::get_count(&app.state.store, session)
        .await
        .unwrap();
    assert_eq!(counted.scans, 4, "each scan stored once: {counted:?}");
    let line = |code: &str| {
        counted
            .lines
            .iter()
            .find(|l| l.label.sku_code == code)
            .map(|l| l.counted)
    };
    assert_eq!(line(&code_a), Some(3));
    assert_eq!(line(&code_b), Some(1));

    // An unknown code is refused, with the server's message, and leaves the queue.
    scan(&phone, "9999999999994").await;
    wait_for_text(&phone, "#refused", "9999999999994").await;
    wait_for_text(&phone, "#queue-count", "0").await;

    // Price check of a scanned item.
    click(&phone, "#tab-btn-price").await;
    scan(&phone, &code_b).await;
    wait_for_text(&phone, "#price-result", "¥").await;
    shots.take(&phone, "pda-price-360").await;

    // Submitted from the handheld, approved in the console: on hand is the count.
    click(&phone, "#tab-btn-count").await;
    click(&phone, "#submit-count").await;
    let mut submitted = false;
    for _ in 0..300 {
        let s = storage::store_ops::get_count(&app.state.store, session)
            .await
            .unwrap();
        if s.status == "submitted" {
            submitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(submitted, "the count was submitted");
    phone
        .goto(&format!("{}/console/store-ops/counts/{session}", app.url))
        .await
        .unwrap();
    let table = text_of(&phone, "#count-variances").await;
    assert!(table.contains(&code_a), "{table}");
    click(&phone, "#approve-count").await;
    wait_for_text(&phone, "#count-status", "approved").await;
    shots.take(&phone, "pda-count-approved-360").await;
    let level = storage::stock::get_level(&app.state.store, "SH001", sku_a.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(level.on_hand, 3);
    assert!(storage::stock::ledger_mismatches(&app.state.store)
        .await
        .unwrap()
        .is_empty());
    phone.close().await.unwrap();
}

/// The console's store operations as head office: a requisition above what the warehouse now
/// has is refused on the page with the quantities (nothing changed), a smaller allocation ships a
/// transfer; the shrink report lists a write-off by store and category, and its CSV has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_allocation_is_refused_above_stock_and_shrink_is_reported() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let (_, levels) = app
        .get("/api/v1/stock?location_id=WH01&limit=50", Some(&admin))
        .await;
    let item = levels["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["on_hand"].as_i64().unwrap() > 10 && i["reserved"].as_i64().unwrap() == 0)
        .cloned()
        .unwrap();
    let (sku, code, stock) = (
        item["sku_id"].as_str().unwrap().to_owned(),
        item["sku_code"].as_str().unwrap().to_owned(),
        item["on_hand"].as_i64().unwrap(),
    );
    // The store asks for 5; the warehouse then loses all but 2.
    let (status, body) = app
        .post(
            "/console/pda/api/requisitions",
            Some(&mgr),
            json!({"id": uuid::Uuid::now_v7(), "store": "SH001", "warehouse": "WH01", "lines": [{"code": code, "qty": 5}]}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/stock/adjustments",
            Some(&admin),
            json!({"id": uuid::Uuid::now_v7(), "location_id": "WH01", "sku_id": sku, "delta": -(stock - 2), "reason": "damage"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    // A write-off at SH001 for the report.
    let (_, shelf) = app
        .get("/api/v1/stock?location_id=SH001&limit=50", Some(&mgr))
        .await;
    let shelf_code = shelf["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["on_hand"].as_i64().unwrap() > 3)
        .unwrap()["sku_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .post(
            "/console/pda/api/shrink",
            Some(&mgr),
            json!({"id": uuid::Uuid::now_v7(), "store": "SH001", "code": shelf_code, "qty": 3, "reason": "damaged"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");

    let driver = start_driver().await;
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    desk.goto(&format!("{}/console/store-ops", app.url))
        .await
        .unwrap();
    wait_for_text(&desk, "#requisitions", &code).await;
    click(&desk, "form.allocate button[type=submit]").await;
    wait_for_text(&desk, "#ops-error", "only 2").await;
    shots.take(&desk, "store-ops-allocation-refused").await;
    let reqs = storage::store_ops::list_requisitions(&app.state.store, None, None)
        .await
        .unwrap();
    assert_eq!(reqs[0].status, "requested", "nothing changed");
    // Allocating the 2 there are ships a transfer.
    type_into(&desk, "form.allocate input[type=number]", "2").await;
    click(&desk, "form.allocate button[type=submit]").await;
    wait_for_text(&desk, "#requisitions", "allocated").await;
    let reqs = storage::store_ops::list_requisitions(&app.state.store, None, None)
        .await
        .unwrap();
    assert_eq!(reqs[0].lines[0].allocated, 2);
    assert!(reqs[0].transfer_id.is_some());

    // The shrink report and its CSV.
    desk.goto(&format!("{}/console/shrink", app.url))
        .await
        .unwrap();
    wait_for_text(&desk, "#shrink-report", "SH001").await;
    wait_for_text(&desk, "#shrink-records", &shelf_code).await;
    shots.take(&desk, "shrink-report").await;
    let csv = desk
        .execute(
            "return fetch(document.getElementById('shrink-csv').href).then(function (r) { return r.text(); });",
            vec![],
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap();
    assert!(csv.contains("value_yuan") && csv.contains("SH001"), "{csv}");
    let row = csv.lines().find(|l| l.contains("SH001")).unwrap();
    assert!(row.ends_with(",0,3,0,0,0"), "3 damaged: {row}");
    desk.close().await.unwrap();
}
