//! Promotions created in the console (issue 16): a flash sale (start/end, units, per-member
//! limit) that the shop's product page shows with a countdown and the units left, a buy-X-get-Y
//! and a tier price; a flash sale without its limits is refused and nothing is created.

use reqwest::StatusCode;

use crate::both_backends;
use crate::support::TestApp;
use crate::web::{console, Browser};

async fn count(app: &TestApp, token: &str) -> usize {
    let (_, list) = app.get("/api/v1/promotions", Some(token)).await;
    list["items"].as_array().unwrap().len()
}

async fn console_promotions(app: TestApp) {
    let token = app.login("admin").await;
    let (_, page) = app.get("/api/v1/products?limit=2", Some(&token)).await;
    let product = page["items"][0]["id"].as_str().unwrap().to_owned();
    // The tier price goes on another product: two sale prices of one SKU for the same shoppers
    // at the same time are refused (the flash sale's).
    let other = page["items"][1]["id"].as_str().unwrap().to_owned();
    let (_, other) = app
        .get(&format!("/api/v1/products/{other}"), Some(&token))
        .await;
    let other_barcode = other["skus"][0]["barcodes"][0].as_str().unwrap().to_owned();
    let (_, detail) = app
        .get(&format!("/api/v1/products/{product}"), Some(&token))
        .await;
    let sku = detail["skus"][0]["id"].as_str().unwrap().to_owned();
    let barcode = detail["skus"][0]["barcodes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let mut admin = console(&app, "admin").await;
    let before = count(&app, &token).await;

    // Refused: a flash sale without its per-member limit.
    let id = retail_domain::ids::new_id().to_string();
    let page = admin
        .post_csrf(
            "/console/promotions",
            &[
                ("id", &id),
                ("name", "秒杀测试"),
                ("kind", "flash_sale"),
                ("barcode", &barcode),
                ("price", "0.99"),
                ("qty", "5"),
                ("hours", "2"),
                ("days", "1"),
            ],
        )
        .await;
    assert!(page.body.contains("每人限购"), "the form says why");
    assert_eq!(count(&app, &token).await, before, "nothing created");

    for form in [
        vec![
            ("kind", "flash_sale"),
            ("barcode", barcode.as_str()),
            ("price", "0.99"),
            ("qty", "5"),
            ("per_member", "1"),
            ("hours", "2"),
        ],
        vec![
            ("kind", "buy_x_get_y"),
            ("barcode", barcode.as_str()),
            ("buy", "2"),
            ("get", "1"),
        ],
        vec![
            ("kind", "tier_price"),
            ("barcode", other_barcode.as_str()),
            ("price", "1.50"),
            ("tier", "gold"),
        ],
    ] {
        let id = retail_domain::ids::new_id().to_string();
        let mut fields = vec![("id", id.as_str()), ("name", "测试促销"), ("days", "3")];
        fields.extend(form.iter().copied());
        let page = admin.post_csrf("/console/promotions", &fields).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{form:?}: {}",
            page.body
        );
    }
    let (_, list) = app.get("/api/v1/promotions", Some(&token)).await;
    let text = list.to_string();
    assert_eq!(list["items"].as_array().unwrap().len(), before + 3);
    assert!(text.contains("\"buy\":2"), "{text}");
    assert!(text.contains("gold"), "{text}");
    let flash = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| !p["flash_sale"].is_null())
        .expect("the flash sale");
    assert_eq!(flash["flash_sale"]["total_qty"], 5);
    assert_eq!(flash["flash_sale"]["per_member_limit"], 1);

    // The shop's product page shows it running, with a countdown and the units left.
    let mut shopper = Browser::new(&app);
    let page = shopper.get(&format!("/p/{product}?sku={sku}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"flash-sale\""), "{}", page.body);
    assert!(page.body.contains("data-countdown="));
    assert!(page.body.contains("<span id=\"flash-left\">5</span>"));
}
both_backends!(
    flash_sales_buy_x_get_y_and_tier_prices_from_the_console,
    console_promotions
);
