//! `GET /audit` pages through the whole log with a cursor (`before` = the last entry's id):
//! every entry exactly once, newest first, nothing cut at a fixed row count.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::support::TestApp;

async fn audit_pages(app: TestApp) {
    let token = app.login("admin").await;
    for i in 0..9 {
        let body =
            json!({ "code": format!("AP{i}"), "name_zh": format!("审计分页{i}"), "sort": i });
        let (status, answer) = app.post("/api/v1/categories", Some(&token), body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (_, all) = app.get("/api/v1/audit?limit=1000", Some(&token)).await;
    let all = all.as_array().unwrap().clone();
    assert!(all.len() >= 9 && all.len() < 1000, "{}", all.len());
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(b) => format!("/api/v1/audit?limit=4&before={b}"),
            None => "/api/v1/audit?limit=4".to_owned(),
        };
        let (status, page) = app.get(&path, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap().clone();
        seen.extend(page.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        if page.len() < 4 {
            break;
        }
        before = Some(page[3]["id"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = all
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected, "the pages are the whole log, in order");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
    let (_, empty) = app
        .get(
            &format!("/api/v1/audit?before={}", retail_domain::ids::new_id()),
            Some(&token),
        )
        .await;
    assert_eq!(empty, json!([]));
}
both_backends!(the_audit_log_pages_through_every_entry, audit_pages);

/// `GET /orders` pages the same way: every order exactly once, newest first.
async fn order_pages(app: TestApp) {
    let token = app.login("admin").await;
    let (sku, _) = crate::orders::some_sku(&app).await;
    for _ in 0..5 {
        let (status, body) = app
            .post("/api/v1/orders", None, crate::orders::pickup_order(sku, 1))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, all) = app.get("/api/v1/orders?limit=500", Some(&token)).await;
    let expected: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(expected.len() >= 5 && expected.len() < 500);
    let mut seen = Vec::new();
    let mut path = "/api/v1/orders?limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap().clone();
        seen.extend(page.iter().map(|o| o["id"].as_str().unwrap().to_owned()));
        if page.len() < 2 {
            break;
        }
        path = format!(
            "/api/v1/orders?limit=2&before={}",
            page[1]["id"].as_str().unwrap()
        );
    }
    assert_eq!(seen, expected, "the pages are every order, in order");
}
both_backends!(orders_page_through_every_order, order_pages);
