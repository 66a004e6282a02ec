//! Catalog API tests: the POS change feed, barcode look-up, product and category browsing, and
//! head office's writes with their permissions, validation, idempotency and audit.

use std::collections::HashSet;

use reqwest::StatusCode;
use retail_domain::barcode::ean13_from_body;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

/// Registers a POS device at `store` and returns its credential.
async fn device(app: &TestApp, admin: &str, store: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/devices",
            Some(admin),
            json!({"id": Uuid::now_v7(), "location_id": store, "kind": "pos", "name": "Lane 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["credential"].as_str().unwrap().to_owned()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.put(path, Some(token), body).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    app.delete(path, Some(token)).await
}

/// Pulls one page of the feed.
async fn pull(app: &TestApp, token: &str, since: i64, limit: i64) -> Value {
    let (status, page) = app
        .get(
            &format!("/api/v1/catalog/changes?since={since}&limit={limit}"),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// Pulls every page after `since`; returns the items and the final cursor.
async fn pull_all(app: &TestApp, token: &str, since: i64, limit: i64) -> (Vec<Value>, i64) {
    let mut items = Vec::new();
    let mut cursor = since;
    loop {
        let page = pull(app, token, cursor, limit).await;
        let batch = page["items"].as_array().unwrap();
        assert!(batch.len() as i64 <= limit);
        items.extend(batch.iter().cloned());
        cursor = page["next_since"].as_i64().unwrap();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        assert!(!batch.is_empty(), "has_more with an empty page");
    }
    (items, cursor)
}

fn skus(items: &[Value]) -> Vec<&Value> {
    items.iter().filter(|i| i["kind"] == "sku").collect()
}

/// A fresh valid EAN-13 outside the demo's prefixes.
fn new_gtin() -> String {
    let n = Uuid::now_v7().as_u128() % 1_000_000_000;
    ean13_from_body(&format!("699{n:09}")).unwrap()
}

/// A GTIN with a wrong check digit.
fn bad_gtin() -> String {
    let good = new_gtin();
    let last = good.as_bytes()[12] - b'0';
    format!("{}{}", &good[..12], (last + 1) % 10)
}

fn product_body(id: Uuid, code: &str, barcodes: [&str; 2]) -> Value {
    json!({
        "id": id,
        "code": code,
        "name_zh": "测试薯片",
        "name_en": "Test Chips",
        "brand": "测试",
        "category_id": leaf_category(),
        "skus": [
            {"id": Uuid::now_v7(), "sku_code": format!("{code}-01"), "spec_zh": "70g", "spec_en": "70g",
             "unit": "袋", "price": "6.50", "member_price": "5.90", "barcodes": [{"code": barcodes[0]}]},
            {"sku_code": format!("{code}-02"), "spec_zh": "散装", "price": "3.20",
             "barcodes": [{"code": barcodes[1], "internal": true}]}
        ]
    })
}

fn leaf_category() -> &'static str {
    "FOOD-SNACK-CHIPS"
}

async fn full_sync_in_pages(app: TestApp) {
    let admin = app.login("admin").await;
    let lane = device(&app, &admin, "SH001").await;
    // Anonymous callers may not pull.
    let (status, _) = app.get("/api/v1/catalog/changes", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let first = pull(&app, &lane, 0, 100).await;
    let total = first["total"].as_i64().unwrap();
    let (items, cursor) = pull_all(&app, &lane, 0, 100).await;
    assert_eq!(
        items.len() as i64,
        total,
        "the pages hold exactly the announced total"
    );
    assert!(items.len() > 100, "several pages");

    // Strictly increasing sequence numbers, no record twice.
    let mut last = 0;
    let mut seen = HashSet::new();
    for item in &items {
        let seq = item["seq"].as_i64().unwrap();
        assert!(seq > last, "seq {seq} after {last}");
        last = seq;
        let key = (
            item["kind"].as_str().unwrap().to_owned(),
            item["id"].as_str().unwrap().to_owned(),
        );
        assert!(seen.insert(key.clone()), "{key:?} twice");
    }
    assert_eq!(cursor, last);

    // The whole catalog: every category and every SKU of every product.
    let (status, categories) = app.get("/api/v1/categories", None).await;
    assert_eq!(status, StatusCode::OK);
    let categories = categories.as_array().unwrap();
    assert_eq!(
        items.iter().filter(|i| i["kind"] == "category").count(),
        categories.len()
    );
    let mut sku_count = 0;
    let mut after = String::new();
    loop {
        let (status, page) = app
            .get(
                &format!("/api/v1/products?limit=200&after={after}"),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for p in page["items"].as_array().unwrap() {
            sku_count += p["sku_count"].as_i64().unwrap();
        }
        match page["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    let sku_items = skus(&items);
    assert!(sku_items.len() >= 350, "{} SKUs", sku_items.len());
    assert_eq!(sku_items.len() as i64, sku_count);
    for sku in &sku_items {
        assert!(!sku["barcodes"].as_array().unwrap().is_empty(), "{sku}");
        assert!(sku["price"].is_string(), "{sku}");
        assert!(sku["name_zh"].as_str().is_some_and(|n| !n.is_empty()));
    }

    // Nothing after the end; a big page is served whole.
    let page = pull(&app, &lane, cursor, 500).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        (
            page["total"].as_i64(),
            page["has_more"].as_bool(),
            page["next_since"].as_i64()
        ),
        (Some(0), Some(false), Some(cursor))
    );
    let big = pull(&app, &lane, 0, 5000).await;
    assert_eq!(
        big["items"].as_array().unwrap().len() as i64,
        total.min(2000)
    );
    let (status, _) = app
        .get("/api/v1/catalog/changes?since=-1", Some(&lane))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
crate::both_backends!(full_sync_in_pages, full_sync_in_pages);

async fn price_changes_move_to_the_end_of_the_feed(app: TestApp) {
    let admin = app.login("admin").await;
    let lane1 = device(&app, &admin, "SH001").await;
    let lane2 = device(&app, &admin, "SH002").await;
    let (items1, cursor) = pull_all(&app, &lane1, 0, 2000).await;
    let (items2, _) = pull_all(&app, &lane2, 0, 2000).await;
    // A SKU with no store price at either store, not at the end of the feed.
    let plain: Vec<&Value> = skus(&items1)
        .into_iter()
        .filter(|s| s["store_price"].is_null())
        .filter(|s| {
            skus(&items2)
                .iter()
                .any(|t| t["id"] == s["id"] && t["store_price"].is_null())
        })
        .collect();
    let sku = plain[0].clone();
    let sku_id = sku["id"].as_str().unwrap();

    // A chain price change: the SKU alone comes after the old cursor, with the new prices.
    let (status, body) = put(
        &app,
        &format!("/api/v1/skus/{sku_id}/price"),
        &admin,
        json!({"price": "12.34", "member_price": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["price"], "12.34");
    let page = pull(&app, &lane1, cursor, 500).await;
    let changed = page["items"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{page}");
    assert_eq!(changed[0]["id"], sku["id"]);
    assert_eq!(changed[0]["kind"], "sku");
    assert_eq!(changed[0]["price"], "12.34");
    assert!(changed[0]["member_price"].is_null());
    assert!(changed[0]["seq"].as_i64().unwrap() > cursor);
    assert_eq!(page["total"], 1);
    let cursor2 = page["next_since"].as_i64().unwrap();
    // A full sync still holds it once, now last.
    let (all, _) = pull_all(&app, &lane1, 0, 2000).await;
    assert_eq!(all.last().unwrap()["id"], sku["id"]);
    assert_eq!(all.iter().filter(|i| i["id"] == sku["id"]).count(), 1);

    // A store price override (head office's) shows only to that store's lanes.
    let (status, body) = put(
        &app,
        &format!("/api/v1/stores/SH001/prices/{sku_id}"),
        &admin,
        json!({"price": "9.90"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["store_price"], "9.90");
    let page1 = pull(&app, &lane1, cursor2, 500).await;
    let item1 = &page1["items"][0];
    assert_eq!(page1["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            item1["id"].clone(),
            item1["price"].clone(),
            item1["store_price"].clone()
        ),
        (sku["id"].clone(), json!("12.34"), json!("9.90"))
    );
    let page2 = pull(&app, &lane2, cursor2, 500).await;
    assert_eq!(page2["items"][0]["id"], sku["id"]);
    assert!(page2["items"][0]["store_price"].is_null(), "{page2}");
    assert_eq!(page2["items"][0]["price"], "12.34");
    // Look-ups agree: each lane sees its own store's price.
    let code = sku["barcodes"][0].as_str().unwrap();
    let (_, seen1) = app
        .get(&format!("/api/v1/catalog/barcodes/{code}"), Some(&lane1))
        .await;
    let (_, seen2) = app
        .get(&format!("/api/v1/catalog/barcodes/{code}"), Some(&lane2))
        .await;
    assert_eq!(
        (seen1["store_price"].clone(), seen2["store_price"].clone()),
        (json!("9.90"), Value::Null)
    );
    // A lane cannot ask for another store's prices.
    let (status, _) = app
        .get("/api/v1/catalog/changes?store=SH002", Some(&lane1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The product page lists the override.
    let product_id = sku["product_id"].as_str().unwrap();
    let (status, product) = app
        .get(&format!("/api/v1/products/{product_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed = product["skus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sku["id"])
        .unwrap()
        .clone();
    assert_eq!(
        listed["store_prices"],
        json!([{"location_id": "SH001", "price": "9.90"}])
    );

    // Removing the override bumps the SKU again; the chain price applies.
    let cursor3 = page1["next_since"].as_i64().unwrap();
    let (status, body) = delete(
        &app,
        &format!("/api/v1/stores/SH001/prices/{sku_id}"),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = pull(&app, &lane1, cursor3, 500).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["items"][0]["store_price"].is_null());

    // Off shelf: the product's SKUs come again with status off_shelf.
    let cursor4 = page["next_since"].as_i64().unwrap();
    let (status, body) = put(
        &app,
        &format!("/api/v1/products/{product_id}/status"),
        &admin,
        json!({"status": "off_shelf"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = pull(&app, &lane1, cursor4, 500).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), product["skus"].as_array().unwrap().len());
    assert!(items
        .iter()
        .all(|i| i["status"] == "off_shelf" && i["product_id"] == sku["product_id"]));
}
crate::both_backends!(
    price_changes_move_to_the_end_of_the_feed,
    price_changes_move_to_the_end_of_the_feed
);

async fn barcode_lookup(app: TestApp) {
    let admin = app.login("admin").await;
    let cashier = app.login("cashier1.sh001").await;
    let lane = device(&app, &admin, "SH001").await;
    let page = pull(&app, &lane, 0, 2000).await;
    let sku = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "sku")
        .unwrap()
        .clone();
    let code = sku["barcodes"][0].as_str().unwrap();
    for token in [&lane, &cashier] {
        let (status, found) = app
            .get(&format!("/api/v1/catalog/barcodes/{code}"), Some(token))
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["id"], sku["id"]);
        assert_eq!(found["sku_code"], sku["sku_code"]);
    }
    let unknown = new_gtin();
    let (status, body) = app
        .get(&format!("/api/v1/catalog/barcodes/{unknown}"), Some(&lane))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&unknown),
        "{body}"
    );
    for malformed in [bad_gtin(), "abc%21".to_owned(), "x".repeat(40)] {
        let (status, body) = app
            .get(
                &format!("/api/v1/catalog/barcodes/{malformed}"),
                Some(&lane),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed}: {body}");
        assert_eq!(body["error"]["code"], "bad_barcode");
    }
    let (status, _) = app
        .get(&format!("/api/v1/catalog/barcodes/{code}"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
crate::both_backends!(barcode_lookup, barcode_lookup);

async fn product_create_validates_and_is_idempotent(app: TestApp) {
    let admin = app.login("admin").await;
    let lane = device(&app, &admin, "SH001").await;
    let (_, cursor) = pull_all(&app, &lane, 0, 2000).await;

    // A bad check digit: 422 naming the field, nothing created.
    let id = Uuid::now_v7();
    let mut body = product_body(id, "990001", [&new_gtin(), "T-990001-2"]);
    body["skus"][0]["barcodes"][0]["code"] = json!(bad_gtin());
    let (status, err) = app.post("/api/v1/products", Some(&admin), body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["error"]["fields"]["skus[0].barcodes[0].code"]
            .as_str()
            .unwrap()
            .contains("check digit"),
        "{err}"
    );
    let (status, _) = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(pull(&app, &lane, cursor, 500).await["total"], 0);

    // Other bad input.
    let mut negative = product_body(id, "990001", [&new_gtin(), "T-990001-2"]);
    negative["skus"][1]["price"] = json!("-1.00");
    let (status, err) = app.post("/api/v1/products", Some(&admin), negative).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["fields"]["skus[1].price"].is_string(), "{err}");
    let mut unknown_category = product_body(id, "990001", [&new_gtin(), "T-990001-2"]);
    unknown_category["category_id"] = json!("NO-SUCH");
    let (status, err) = app
        .post("/api/v1/products", Some(&admin), unknown_category)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["fields"]["category_id"].is_string(), "{err}");
    let twice = new_gtin();
    let mut duplicate_in_request = product_body(id, "990001", [&twice, "T-990001-2"]);
    duplicate_in_request["skus"][1]["barcodes"] = json!([{"code": twice}]);
    let (status, _) = app
        .post("/api/v1/products", Some(&admin), duplicate_in_request)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/api/v1/products",
            Some(&admin),
            product_body(
                Uuid::from_u128(0x0190_b5e4_0000_4000_8000_0000_0000_0001),
                "990001",
                [&new_gtin(), "T-990001-2"],
            ),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ids must be UUIDv7"
    );

    // A barcode another SKU already uses: 409, nothing created.
    let page = pull(&app, &lane, 0, 2000).await;
    let packaged = skus(page["items"].as_array().unwrap())
        .into_iter()
        .find(|s| s["weighed"] == false)
        .unwrap();
    let taken = packaged["barcodes"][0].as_str().unwrap().to_owned();
    let (status, err) = app
        .post(
            "/api/v1/products",
            Some(&admin),
            product_body(id, "990001", [&taken, "T-990001-2"]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "barcode_in_use");
    assert!(err["error"]["message"].as_str().unwrap().contains(&taken));
    let (status, _) = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(pull(&app, &lane, cursor, 500).await["total"], 0);

    // A valid create, then its retry: the same product, created once, on the feed once.
    let body = product_body(id, "990001", [&new_gtin(), "T-990001-2"]);
    let (status, created) = app
        .post("/api/v1/products", Some(&admin), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["id"], json!(id));
    assert_eq!(created["skus"].as_array().unwrap().len(), 2);
    assert_eq!(created["skus"][0]["member_price"], "5.90");
    assert_eq!(created["skus"][1]["unit"], "件");
    let (status, retried) = app.post("/api/v1/products", Some(&admin), body).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried, created);
    let page = pull(&app, &lane, cursor, 500).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert!(items
        .iter()
        .all(|i| i["product_id"] == json!(id) && i["status"] == "on_shelf"));
    let (status, found) = app
        .get("/api/v1/catalog/barcodes/T-990001-2", Some(&lane))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["price"], "3.20");
    // The same product code under another id is a conflict.
    let (status, err) = app
        .post(
            "/api/v1/products",
            Some(&admin),
            product_body(Uuid::now_v7(), "990001", [&new_gtin(), "T-990001-9"]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"]["code"], "product_code_in_use");
    // Shoppers find it.
    let (status, found) = app.get("/api/v1/products?q=test%20chips", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["items"][0]["id"], json!(id));
    assert_eq!(
        (
            found["items"][0]["price_min"].clone(),
            found["items"][0]["price_max"].clone()
        ),
        (json!("3.20"), json!("6.50"))
    );
}
crate::both_backends!(
    product_create_validates_and_is_idempotent,
    product_create_validates_and_is_idempotent
);

async fn price_permissions_and_audit(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let cashier = app.login("cashier1.sh001").await;
    let lane = device(&app, &admin, "SH001").await;
    let page = pull(&app, &lane, 0, 2000).await;
    let sku = skus(page["items"].as_array().unwrap())[0].clone();
    let sku_id = sku["id"].as_str().unwrap();
    let price_path = format!("/api/v1/skus/{sku_id}/price");

    let (status, _) = put(&app, &price_path, &cashier, json!({"price": "1.00"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = put(&app, &price_path, &manager, json!({"price": "1.00"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = put(&app, &price_path, &lane, json!({"price": "1.00"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = put(
        &app,
        &format!("/api/v1/stores/SH001/prices/{sku_id}"),
        &cashier,
        json!({"price": "1.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = put(
        &app,
        &format!("/api/v1/stores/SH002/prices/{sku_id}"),
        &manager,
        json!({"price": "1.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = delete(
        &app,
        &format!("/api/v1/stores/SH002/prices/{sku_id}"),
        &manager,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/api/v1/products",
            Some(&manager),
            product_body(Uuid::now_v7(), "990002", [&new_gtin(), "T-990002-2"]),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nothing changed.
    let (_, same) = app
        .get(
            &format!(
                "/api/v1/catalog/barcodes/{}",
                sku["barcodes"][0].as_str().unwrap()
            ),
            Some(&lane),
        )
        .await;
    assert_eq!(same["price"], sku["price"]);
    assert_eq!(same["seq"], sku["seq"]);

    // Bad values.
    let (status, err) = put(&app, &price_path, &admin, json!({"price": "-0.01"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["fields"]["price"].is_string());
    let (status, _) = put(&app, &price_path, &admin, json!({"price": 12.5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "money is a string");
    let (status, _) = put(
        &app,
        &format!("/api/v1/skus/{}/price", Uuid::now_v7()),
        &admin,
        json!({"price": "1.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = put(
        &app,
        &format!("/api/v1/stores/NOPE/prices/{sku_id}"),
        &admin,
        json!({"price": "1.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The admin's change is audited with before and after; the member price is kept when absent.
    let (status, changed) = put(
        &app,
        &price_path,
        &admin,
        json!({"price": "23.45", "member_price": "21.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (status, changed) = put(&app, &price_path, &admin, json!({"price": "23.99"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (changed["price"].clone(), changed["member_price"].clone()),
        (json!("23.99"), json!("21.00"))
    );
    let (status, entries) = app
        .get(&format!("/api/v1/audit?entity_id={sku_id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    let changes: Vec<&Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "price.change")
        .collect();
    assert_eq!(changes.len(), 2, "{entries}");
    let first = changes
        .iter()
        .find(|e| e["detail"]["after"]["price"] == "23.45")
        .unwrap();
    assert_eq!(first["actor"], "staff:admin");
    assert_eq!(first["detail"]["before"]["price"], sku["price"]);
    assert_eq!(first["detail"]["after"]["member_price"], "21.00");

    // Store prices are head office's too (docs/DESIGN.md §1): not even the store's own manager
    // overrides the chain price. A zero price, or one far from the chain price (a slipped digit),
    // is refused and changes nothing.
    let store_path = format!("/api/v1/stores/SH001/prices/{sku_id}");
    let (status, _) = put(&app, &store_path, &manager, json!({"price": "19.90"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = delete(&app, &store_path, &manager).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in ["0.00", "-1.00", "11.99", "47.99", "239.90"] {
        let (status, err) = put(&app, &store_path, &admin, json!({"price": bad})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {err}");
        assert!(err["error"]["fields"]["price"].is_string(), "{err}");
    }
    let (_, unchanged) = app
        .get(
            &format!(
                "/api/v1/catalog/barcodes/{}",
                sku["barcodes"][0].as_str().unwrap()
            ),
            Some(&lane),
        )
        .await;
    assert!(unchanged["store_price"].is_null(), "{unchanged}");
    // Within 50%–200% of the chain price (23.99): head office sets it; it is audited.
    let (status, body) = put(&app, &store_path, &admin, json!({"price": "19.90"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, entries) = app
        .get(&format!("/api/v1/audit?entity_id={sku_id}"), Some(&admin))
        .await;
    let set = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "store_price.set")
        .unwrap()
        .clone();
    assert_eq!(
        (
            set["actor"].clone(),
            set["detail"]["store"].clone(),
            set["detail"]["after"]["price"].clone()
        ),
        (json!("staff:admin"), json!("SH001"), json!("19.90"))
    );
}
crate::both_backends!(price_permissions_and_audit, price_permissions_and_audit);

async fn categories_and_browsing(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let lane = device(&app, &admin, "SH001").await;
    let (_, cursor) = pull_all(&app, &lane, 0, 2000).await;
    let (status, categories) = app.get("/api/v1/categories", None).await;
    assert_eq!(status, StatusCode::OK);
    let categories = categories.as_array().unwrap().clone();
    let top = categories
        .iter()
        .find(|c| c["parent_id"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(categories.iter().any(|c| c["parent_id"] == json!(top)));

    // Upsert by code: create, update, refuse cycles and unknown parents; each change on the feed.
    let new = json!({"code": "TEST-NEW", "parent_id": top, "name_zh": "新品", "name_en": "New"});
    let (status, _) = app
        .post("/api/v1/categories", Some(&manager), new.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = app.post("/api/v1/categories", Some(&admin), new).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (status, updated) = app
        .post("/api/v1/categories", Some(&admin), json!({"code": "TEST-NEW", "parent_id": top, "name_zh": "新品上市", "name_en": "New in", "sort": 5}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["name_zh"], "新品上市");
    assert!(updated["seq"].as_i64() > created["seq"].as_i64());
    let (status, _) = app
        .post(
            "/api/v1/categories",
            Some(&admin),
            json!({"code": top, "parent_id": "TEST-NEW", "name_zh": "循环"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/api/v1/categories",
            Some(&admin),
            json!({"code": "TEST-X", "parent_id": "NO-SUCH", "name_zh": "无"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = pull(&app, &lane, cursor, 500).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(
        (
            page["items"][0]["kind"].clone(),
            page["items"][0]["name_en"].clone()
        ),
        (json!("category"), json!("New in"))
    );

    // Browsing a top-level category pages through every product below it, by code.
    let mut seen = HashSet::new();
    let mut after = String::new();
    let mut last_code = String::new();
    loop {
        let (status, page) = app
            .get(
                &format!("/api/v1/products?category={top}&limit=7&after={after}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for p in page["items"].as_array().unwrap() {
            let code = p["code"].as_str().unwrap().to_owned();
            assert!(code > last_code);
            last_code = code.clone();
            assert!(seen.insert(code));
            assert_eq!(p["status"], "on_shelf");
        }
        match page["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    assert!(seen.len() > 7, "{} products", seen.len());
    let (status, _) = app.get("/api/v1/products?category=NO-SUCH", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/api/v1/products/{}", Uuid::now_v7()), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/api/v1/products/not-a-uuid", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
crate::both_backends!(categories_and_browsing, categories_and_browsing);

/// A first sync of a 100,000-SKU catalog, page by page (run with `--ignored`; prints timings).
async fn first_sync_of_100k_skus(app: TestApp) {
    const N: usize = 100_000;
    let started = std::time::Instant::now();
    let mut tx = app.state.store.begin().await.unwrap();
    let now = 1_767_225_600_000_i64;
    let ids: Vec<(String, String)> = (0..N)
        .map(|_| (Uuid::now_v7().to_string(), Uuid::now_v7().to_string()))
        .collect();
    for (chunk_no, chunk) in ids.chunks(2000).enumerate() {
        let base = chunk_no * 2000;
        let mut products = String::from("INSERT INTO products (id, code, name_zh, name_en, category_id, created_at, updated_at) VALUES ");
        let mut skus = String::from("INSERT INTO skus (id, product_id, sku_code, price_fen, created_at, updated_at) VALUES ");
        let mut barcodes = String::from("INSERT INTO barcodes (code, sku_id) VALUES ");
        for (i, (product, sku)) in chunk.iter().enumerate() {
            let n = base + i;
            let sep = if i == 0 { "" } else { ", " };
            products.push_str(&format!(
                "{sep}('{product}', 'BULK{n}', '批量{n}', 'Bulk {n}', '{}', {now}, {now})",
                leaf_category()
            ));
            skus.push_str(&format!(
                "{sep}('{sku}', '{product}', 'BULK{n}-01', {}, {now}, {now})",
                100 + n
            ));
            barcodes.push_str(&format!(
                "{sep}('{}', '{sku}')",
                ean13_from_body(&format!("698{n:09}")).unwrap()
            ));
        }
        for sql in [products, skus, barcodes] {
            sqlx::query(&sql).execute(&mut *tx).await.unwrap();
        }
    }
    retail_server::storage::catalog::bump_all(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    eprintln!("loaded {N} SKUs in {:?}", started.elapsed());

    let admin = app.login("admin").await;
    let lane = device(&app, &admin, "SH001").await;
    let started = std::time::Instant::now();
    let (mut pages, mut cursor, mut count, mut slowest) = (0, 0, 0, std::time::Duration::ZERO);
    loop {
        let t = std::time::Instant::now();
        let page = pull(&app, &lane, cursor, 2000).await;
        slowest = slowest.max(t.elapsed());
        pages += 1;
        count += page["items"].as_array().unwrap().len();
        cursor = page["next_since"].as_i64().unwrap();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    eprintln!(
        "first sync: {count} records in {pages} pages, {:?} (slowest page {slowest:?})",
        started.elapsed()
    );
    assert!(count > N);
}

mod first_sync_of_100k_skus {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "slow: loads 100,000 SKUs"]
    async fn sqlite() {
        let app = crate::support::TestApp::spawn(crate::support::Backend::Sqlite)
            .await
            .expect("sqlite app");
        super::first_sync_of_100k_skus(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "slow: loads 100,000 SKUs"]
    async fn postgres() {
        if let Some(app) = crate::support::TestApp::spawn(crate::support::Backend::Postgres).await {
            super::first_sync_of_100k_skus(app).await;
        }
    }
}

/// Head office edits a SKU's barcodes and a product's category: a bad check digit, a code of
/// another SKU, an unknown category and removing the last barcode are refused with nothing
/// changed; each accepted change is audited and puts the SKU on the change feed.
async fn barcode_and_category_edits(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let lane = device(&app, &admin, "SH001").await;
    let (items, cursor) = pull_all(&app, &lane, 0, 2000).await;
    // Packaged SKUs: their codes are all GTINs (a weighed SKU also has its scale PLU).
    let skus: Vec<&Value> = items
        .iter()
        .filter(|i| i["kind"] == "sku" && i["weighed"] == false)
        .collect();
    let (sku, other) = (skus[0], skus[1]);
    let sku_id = sku["id"].as_str().unwrap();
    let path = format!("/api/v1/skus/{sku_id}/barcodes");
    let before = sku["barcodes"].as_array().unwrap().len();

    let fresh = new_gtin();
    let (status, _) = app
        .post(&path, Some(&manager), json!({"code": fresh}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(&path, Some(&admin), json!({"code": bad_gtin()}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let taken = other["barcodes"][0].as_str().unwrap();
    let (status, body) = app.post(&path, Some(&admin), json!({"code": taken})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "barcode_in_use");
    for _ in 0..2 {
        // A retry is a no-op.
        let (status, body) = app.post(&path, Some(&admin), json!({"code": fresh})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["barcodes"].as_array().unwrap().len(), before + 1);
    }
    let (status, found) = app
        .get(&format!("/api/v1/catalog/barcodes/{fresh}"), Some(&lane))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["id"], sku["id"]);
    let (changed, cursor) = pull_all(&app, &lane, cursor, 2000).await;
    assert!(
        changed
            .iter()
            .any(|i| i["id"] == sku["id"]
                && i["barcodes"].as_array().unwrap().contains(&json!(fresh))),
        "the SKU is on the feed with its new barcode"
    );

    // Remove every old code; the last one stays.
    let mut codes: Vec<String> = sku["barcodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_owned())
        .collect();
    codes.push(fresh.clone());
    let last = codes.pop().unwrap();
    for code in &codes {
        let (status, body) = delete(&app, &format!("{path}/{code}"), &admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = delete(&app, &format!("{path}/{last}"), &admin).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "last_barcode");
    let (_, now) = app
        .get(&format!("/api/v1/catalog/barcodes/{last}"), Some(&lane))
        .await;
    assert_eq!(now["barcodes"], json!([last]));

    // Category.
    let product_id = sku["product_id"].as_str().unwrap();
    let (_, categories) = app.get("/api/v1/categories", None).await;
    let (_, product) = app
        .get(&format!("/api/v1/products/{product_id}"), None)
        .await;
    let target = categories
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .find(|c| product["category_id"].as_str() != Some(c.as_str()))
        .unwrap();
    let cat_path = format!("/api/v1/products/{product_id}/category");
    let (status, _) = put(&app, &cat_path, &admin, json!({"category_id": "NO-SUCH"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = put(&app, &cat_path, &manager, json!({"category_id": target})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = put(&app, &cat_path, &admin, json!({"category_id": target})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["category_id"], json!(target));
    let (changed, _) = pull_all(&app, &lane, cursor, 2000).await;
    assert!(changed
        .iter()
        .any(|i| i["id"] == sku["id"] && i["category_id"] == json!(target)));
    let (_, audit) = app.get("/api/v1/audit?limit=50", Some(&admin)).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .or(audit.as_array())
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["barcode.add", "barcode.remove", "product.category"] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
}
crate::both_backends!(barcode_and_category_edits, barcode_and_category_edits);
