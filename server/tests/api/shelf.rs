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
