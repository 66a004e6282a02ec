//! Shelf status per store (issue 16, migration 0024): a product taken off the shelf at one store
//! is `off_shelf` in that store's SKU records (what its lanes look up) and stays on the shelf
//! elsewhere; batch changes are audited and repeatable; bad input changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::support::TestApp;

async fn off_shelf_at_one_store(app: TestApp) {
    let token = app.login("admin").await;
    let (_, page) = app.get("/api/v1/products?limit=2", Some(&token)).await;
    let first = page["items"][0]["id"].as_str().unwrap().to_owned();
    let second = page["items"][1]["id"].as_str().unwrap().to_owned();
    let (_, detail) = app
        .get(&format!("/api/v1/products/{first}"), Some(&token))
        .await;
    let barcode = detail["skus"][0]["barcodes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let status_at = |store: &'static str| {
        let app = &app;
        let token = token.clone();
        let barcode = barcode.clone();
        async move {
            let (status, sku) = app
                .get(
                    &format!("/api/v1/catalog/barcodes/{barcode}?store={store}"),
                    Some(&token),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{sku}");
            sku["status"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(status_at("SH001").await, "on_shelf");

    let body = json!({ "product_ids": [first, second], "store": "SH001", "status": "off_shelf" });
    let (status, answer) = app
        .put("/api/v1/products/shelf", Some(&token), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["changed"], 2);
    assert_eq!(status_at("SH001").await, "off_shelf");
    assert_eq!(
        status_at("SH002").await,
        "on_shelf",
        "other stores keep selling it"
    );
    // Again: nothing more changes.
    let (_, answer) = app.put("/api/v1/products/shelf", Some(&token), body).await;
    assert_eq!(answer["changed"], 0);
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={first}"), Some(&token))
        .await;
    assert!(
        audit.to_string().contains("product.store_status"),
        "{audit}"
    );

    // An unknown store or product, or an empty batch: refused, nothing changes.
    for (body, expected) in [
        (
            json!({ "product_ids": [first], "store": "NOPE1", "status": "on_shelf" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "product_ids": [first, retail_domain::ids::new_id()], "store": "SH001", "status": "on_shelf" }),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({ "product_ids": [], "status": "on_shelf" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, answer) = app.put("/api/v1/products/shelf", Some(&token), body).await;
        assert_eq!(status, expected, "{answer}");
    }
    assert_eq!(
        status_at("SH001").await,
        "off_shelf",
        "the refused batch changed nothing"
    );

    let (status, _) = app
        .put(
            "/api/v1/products/shelf",
            Some(&token),
            json!({ "product_ids": [first], "store": "SH001", "status": "on_shelf" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_at("SH001").await, "on_shelf");
    let cashier = app.login("cashier1.sh001").await;
    let (status, _) = app
        .put(
            "/api/v1/products/shelf",
            Some(&cashier),
            json!({ "product_ids": [first], "store": "SH001", "status": "off_shelf" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
both_backends!(
    a_product_goes_off_the_shelf_at_one_store_only,
    off_shelf_at_one_store
);

/// The console's stock page: a goods receipt adds to stock (audited, idempotent by the form's
/// id) and a low-stock threshold is saved; a bad quantity changes nothing.
async fn receipts_and_thresholds_in_the_console(app: TestApp) {
    let mut mgr = crate::web::console(&app, "mgr.sh001").await;
    let token = app.login("admin").await;
    let (_, page) = app.get("/api/v1/products?limit=1", Some(&token)).await;
    let product = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, detail) = app
        .get(&format!("/api/v1/products/{product}"), Some(&token))
        .await;
    let sku: uuid::Uuid = detail["skus"][0]["id"].as_str().unwrap().parse().unwrap();
    let barcode = detail["skus"][0]["barcodes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let level = |app: &TestApp| {
        let store = app.state.store.clone();
        async move {
            retail_server::storage::stock::get_level(&store, "SH001", sku)
                .await
                .unwrap()
                .map(|l| (l.on_hand, l.threshold))
                .unwrap_or((0, 0))
        }
    };
    let (before, _) = level(&app).await;
    let id = retail_domain::ids::new_id().to_string();
    let form = [
        ("id", id.as_str()),
        ("location", "SH001"),
        ("code", barcode.as_str()),
        ("qty", "24"),
        ("reason", "PO-778"),
    ];
    for _ in 0..2 {
        let page = mgr.post_csrf("/console/stock/receipts", &form).await;
        assert!(page.location.unwrap().contains("done=receipt"));
    }
    assert_eq!(level(&app).await.0, before + 24, "received once");
    let page = mgr
        .post_csrf(
            "/console/stock/receipts",
            &[
                ("id", &retail_domain::ids::new_id().to_string()),
                ("location", "SH001"),
                ("code", &barcode),
                ("qty", "0"),
            ],
        )
        .await;
    assert!(page.location.unwrap().contains("error=qty"));
    assert_eq!(level(&app).await.0, before + 24);
    let page = mgr
        .post_csrf(
            "/console/stock/thresholds",
            &[
                ("id", &retail_domain::ids::new_id().to_string()),
                ("location", "SH001"),
                ("code", &barcode),
                ("qty", "7"),
            ],
        )
        .await;
    assert!(page.location.unwrap().contains("done=threshold"));
    assert_eq!(level(&app).await.1, 7);
    let page = mgr.get("/console/stock?location=SH001").await;
    assert!(page.body.contains("goods-receipt"));
}
both_backends!(
    goods_receipts_and_low_stock_thresholds_from_the_console,
    receipts_and_thresholds_in_the_console
);
