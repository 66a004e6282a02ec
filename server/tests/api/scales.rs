//! Label scales (issue 21, migration 0054): a store's PLU list comes from the scale items and
//! the pricing engine (store prices and sale promotions apply, as at the lanes), carries a
//! version that is also its `ETag` (an unchanged list is a 304), and is served to the store's
//! edge agent with its device credential; head office sets scale items, bad input changes
//! nothing.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::TestApp;

fn item<'a>(list: &'a Value, plu: &str) -> &'a Value {
    list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["plu"] == plu))
        .unwrap_or_else(|| panic!("no PLU {plu} in {list}"))
}

async fn plu_list_follows_catalog_and_pricing(app: TestApp) {
    let admin = app.login("admin").await;
    let (status, list) = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert!(items.len() >= 22, "{} PLUs", items.len());
    assert!(
        items.iter().any(|i| i["weighed"] == false),
        "counted fresh items too"
    );
    let apples = item(&list, "10001");
    assert_eq!(apples["key"], 1);
    assert_eq!(apples["weighed"], true);
    assert_eq!(apples["unit_price"], "12.90");
    assert_eq!(apples["barcode_flag"], "20");
    assert_eq!(apples["shelf_life_days"], 7);
    assert!(apples["name"].as_str().unwrap().contains("苹果"));
    let counted = items.iter().find(|i| i["plu"] == "19001").unwrap();
    assert_eq!(counted["key"], 901);
    let version = list["version"].as_str().unwrap().to_owned();
    assert_eq!(list["layout"]["plu_digits"], 5);

    // The ETag is the version: an unchanged list is a 304.
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/stores/SH001/scale-plus", app.url))
        .bearer_auth(&admin)
        .header("If-None-Match", format!("\"{version}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);

    // The store's edge agent gets the same list with its credential.
    let (_, credential) = app
        .register_device("admin", "SH001", "edge", "Edge SH001")
        .await;
    let (status, mine) = app
        .get("/api/v1/devices/me/scale-plus", Some(&credential))
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["version"], version.as_str());
    assert_eq!(mine["store"], "SH001");

    // A sale promotion on apples: the scales sell at the engine's price, and the version moves.
    let sku = apples["sku_id"].as_str().unwrap().to_owned();
    let now = Utc::now();
    let (status, body) = app
        .post(
            "/api/v1/promotions",
            Some(&admin),
            json!({ "promotion": { "id": retail_domain::ids::new_id(), "name_zh": "苹果特价",
                "starts_at": (now - Duration::hours(1)).to_rfc3339(),
                "ends_at": (now + Duration::days(1)).to_rfc3339(),
                "rule": { "kind": "sale_price", "prices": [{ "sku_id": sku, "price": "9.90" }] } } }),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let mut promoted = Value::Null;
    for _ in 0..40 {
        promoted = app
            .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
            .await
            .1;
        if item(&promoted, "10001")["unit_price"] == "9.90" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let apples = item(&promoted, "10001");
    assert_eq!(apples["unit_price"], "9.90", "{promoted}");
    assert_eq!(apples["list_price"], "12.90");
    assert_ne!(promoted["version"], version.as_str());

    // Staff of another store may not read SH001's list.
    let manager = app.login("mgr.hz001").await;
    let (status, _) = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&manager))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
both_backends!(
    the_plu_list_follows_the_catalog_and_the_pricing_engine,
    plu_list_follows_catalog_and_pricing
);

async fn scale_items_are_checked(app: TestApp) {
    let admin = app.login("admin").await;
    let list = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
        .await
        .1;
    let apples = item(&list, "10001")["sku_id"].as_str().unwrap().to_owned();
    let bananas = item(&list, "10002")["sku_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/skus/{bananas}/scale-item");
    let put = |body: Value| {
        let app = &app;
        let admin = &admin;
        let path = path.clone();
        async move { app.put(&path, Some(admin), body).await }
    };
    // Bad input: nothing changes.
    for (body, status, field) in [
        (
            json!({"plu": "1002", "scale_key": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "plu",
        ),
        (
            json!({"plu": "1000a", "scale_key": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "plu",
        ),
        (
            json!({"plu": "10003", "scale_key": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "plu",
        ),
        (
            json!({"plu": "10002", "scale_key": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "scale_key",
        ),
        (
            json!({"plu": "10002", "scale_key": 2, "tare_g": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tare_g",
        ),
        (
            json!({"plu": "10002", "scale_key": 2, "shelf_life_days": 1000}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "shelf_life_days",
        ),
    ] {
        let (got, answer) = put(body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"]["fields"][field].is_string(),
            "{body}: {answer}"
        );
    }
    // The key of apples is taken.
    let (got, answer) = put(json!({"plu": "10002", "scale_key": 1})).await;
    assert_eq!(got, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "scale_key_in_use");
    let unchanged = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
        .await
        .1;
    assert_eq!(unchanged["version"], list["version"]);

    // A good change, twice (idempotent), then visible in the list.
    for _ in 0..2 {
        let (got, answer) =
            put(json!({"plu": "10002", "scale_key": 77, "tare_g": 12, "shelf_life_days": 4})).await;
        assert_eq!(got, StatusCode::OK, "{answer}");
        assert_eq!(answer["scale_key"], 77);
    }
    let changed = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
        .await
        .1;
    let bananas_item = item(&changed, "10002");
    assert_eq!(
        (
            bananas_item["key"].as_i64(),
            bananas_item["tare_g"].as_i64()
        ),
        (Some(77), Some(12))
    );
    assert_ne!(changed["version"], list["version"]);

    // Only head office sets them; removing takes the SKU off the list.
    let manager = app.login("mgr.sh001").await;
    let (got, _) = app
        .put(
            &path,
            Some(&manager),
            json!({"plu": "10002", "scale_key": 78}),
        )
        .await;
    assert_eq!(got, StatusCode::FORBIDDEN);
    let (got, _) = app
        .delete(&format!("/api/v1/skus/{apples}/scale-item"), Some(&admin))
        .await;
    assert_eq!(got, StatusCode::NO_CONTENT);
    let after = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
        .await
        .1;
    assert!(after["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["plu"] != "10001"));
    let (got, _) = app
        .get(&format!("/api/v1/skus/{apples}/scale-item"), Some(&admin))
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
}
both_backends!(
    scale_items_are_checked_and_idempotent,
    scale_items_are_checked
);

/// What SH001 has available of `sku` (on hand less what open orders hold).
async fn available(app: &TestApp, admin: &str, sku: &str) -> i64 {
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id=SH001&sku_id={sku}"),
            Some(admin),
        )
        .await;
    assert!(status.is_success(), "{body}");
    body["items"][0]["available"].as_i64().unwrap()
}

/// The label a scale prints for `plu` at `price_fen` under the chain's default layout
/// (`20` + PLU + price in fen + check digit), as `VirtualLabelScale::print_label` makes it.
fn label(plu: &str, price_fen: i64) -> String {
    retail_domain::barcode::ean13_from_body(&format!("20{plu}{price_fen:05}")).unwrap()
}

/// Scale labels in scan-and-go: each label is a line of its own at its printed price (the same
/// label twice is one line), an unknown PLU is refused with a clear message, and the order and
/// the exit pass carry the printed prices.
async fn scale_labels_in_scan_and_go(app: TestApp) {
    let admin = app.login("admin").await;
    let list = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
        .await
        .1;
    let apples = item(&list, "10001");
    assert_eq!(apples["unit_price"], "12.90");
    let counted = item(&list, "19001");
    let counted_fen = (counted["unit_price"]
        .as_str()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        * 100.0)
        .round() as i64;
    // 1.5 kg of apples at ¥12.90 = ¥19.35; one counted pack at its unit price.
    let apples_label = label("10001", 1935);
    let counted_label = label("19001", counted_fen);
    let apples_sku = apples["sku_id"].as_str().unwrap().to_owned();
    let apples_before = available(&app, &admin, &apples_sku).await;

    let mut b = crate::web::shopper(&app, "13800138007").await;
    let page = b.post_csrf("/scan/start", &[("store", "SH001")]).await;
    assert_eq!(page.location.as_deref(), Some("/scan"));
    for code in [&apples_label, &apples_label, &counted_label] {
        let page = b.post_csrf("/scan/add", &[("code", code)]).await;
        assert_eq!(page.location.as_deref(), Some("/scan"), "{code}");
    }
    let page = b
        .post_csrf("/scan/add", &[("code", &label("99999", 100))])
        .await;
    assert_eq!(page.location.as_deref(), Some("/scan?error=label"));
    let page = b.get("/scan?error=label").await;
    assert!(page.body.contains("scale label cannot be used") || page.body.contains("秤签无法使用"));
    let page = b.get("/scan").await;
    assert_eq!(
        page.body
            .matches(&format!("value=\"{apples_label}\""))
            .count(),
        1,
        "one line per label"
    );
    assert!(page.body.contains("1.500 kg"), "{}", page.body);
    // The printed prices, with the basket's promotions for this member applied by the engine
    // (as at the lanes): never more than the labels' sum.
    let total = counted_fen + 1935;
    let shown = crate::web::between(&page.body, "id=\"scan-total\">", "<").to_owned();
    let page = b.post_csrf("/scan/pay", &[]).await;
    let pay = page.location.unwrap();
    assert!(pay.starts_with("/sandbox/pay/"), "{pay}");
    let paid = b.post(&pay, &[]).await;
    assert!(paid.body.contains("支付成功"), "{}", paid.body);
    // Stock of a weighed item is kept in grams: the label's 1.5 kg go, as at the lanes.
    assert_eq!(
        available(&app, &admin, &apples_sku).await,
        apples_before - 1500
    );
    let page = b.get("/scan/pass").await;
    let code = crate::web::between(&page.body, "data-code-text>", "<").to_owned();
    match app
        .state
        .keys
        .signer
        .verifier()
        .verify(&code, chrono::Utc::now())
    {
        Ok(retail_domain::codes::SignedCode::ExitPass(pass)) => {
            let fen = pass.total.fen();
            assert!(fen > 0 && fen <= total, "{fen} of {total}");
            assert_eq!(shown, format!("¥{}.{:02}", fen / 100, fen % 100));
            assert_eq!(pass.item_count, 2);
        }
        other => panic!("not an exit pass: {other:?}"),
    }
}
/// Head office puts a SKU on the label scales from the console's product page (PLU, key, tare,
/// shelf life) and takes it off; bad values are refused next to the form and change nothing.
async fn scale_items_from_the_console_product_page(app: TestApp) {
    let admin = app.login("admin").await;
    let list = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
        .await
        .1;
    let apples = item(&list, "10001");
    let sku = apples["sku_id"].as_str().unwrap().to_owned();
    let key = apples["key"].to_string();
    let form = format!("/console/catalog/skus/{sku}/scale-item");
    let mut office = crate::web::console(&app, "admin").await;

    let page = office
        .post_csrf(
            &form,
            &[
                ("plu", "10001"),
                ("scale_key", &key),
                ("tare_g", "15"),
                ("shelf_life_days", "3"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let product = page.location.clone().expect("back to the product");
    let (_, stored) = app
        .get(&format!("/api/v1/skus/{sku}/scale-item"), Some(&admin))
        .await;
    assert_eq!(stored["tare_g"], 15, "{stored}");
    assert_eq!(stored["shelf_life_days"], 3, "{stored}");
    let page = office.get(&product).await;
    assert!(
        page.body.contains("name=\"tare_g\" value=\"15\""),
        "the form shows it"
    );

    for (field, value, says) in [
        ("scale_key", "many", "whole number"),
        ("plu", "123", "PLU"),
        ("tare_g", "-5", "99999"),
    ] {
        let mut form_fields = vec![
            ("plu", "10001"),
            ("scale_key", key.as_str()),
            ("tare_g", "20"),
            ("shelf_life_days", "3"),
        ];
        for f in form_fields.iter_mut() {
            if f.0 == field {
                f.1 = value;
            }
        }
        let page = office.post_csrf(&form, &form_fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert!(page.body.contains(says), "{field}: {}", page.body);
    }
    let (_, unchanged) = app
        .get(&format!("/api/v1/skus/{sku}/scale-item"), Some(&admin))
        .await;
    assert_eq!(unchanged["tare_g"], 15, "nothing changed: {unchanged}");

    let page = office.post_csrf(&form, &[("remove", "1")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let (status, _) = app
        .get(&format!("/api/v1/skus/{sku}/scale-item"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let list = app
        .get("/api/v1/stores/SH001/scale-plus", Some(&admin))
        .await
        .1;
    assert!(
        !list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["plu"] == "10001"),
        "off the scales' list"
    );
    // A store manager cannot.
    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    let page = manager
        .post_csrf(&form, &[("plu", "10001"), ("scale_key", &key)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

/// A label scale's state, as the edge agent reports it on the bus, is shown with its agent on
/// the console's devices page (a fault with what is wrong), to the store's manager.
async fn label_scale_faults_show_on_the_devices_page(app: TestApp) {
    use retail_domain::wire::bus::{ComponentHealth, Presence, StatusMessage};
    let (agent, _) = app
        .register_device("admin", "SH001", "edge", "Fresh counter agent")
        .await;
    let status = StatusMessage {
        v: 1,
        message_id: uuid::Uuid::now_v7(),
        at: Utc::now(),
        store: "SH001".into(),
        status: Presence::Online,
        version: Some("test".into()),
        health: vec![
            ComponentHealth {
                name: "label-scale-fresh-1".into(),
                state: "ok".into(),
                detail: Some("PLU list loaded".into()),
            },
            ComponentHealth {
                name: "label-scale-fresh-2".into(),
                state: "fault".into(),
                detail: Some("no answer within 2 s".into()),
            },
        ],
    };
    retail_server::storage::bus::apply_status(&app.state.store, agent, &status)
        .await
        .expect("status stored");
    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    let page = manager.get("/console/devices").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = crate::web::between(&page.body, "Fresh counter agent", "</tr>");
    assert!(row.contains("label-scale-fresh-2"), "{row}");
    assert!(row.contains("no answer within 2 s"), "{row}");
    assert!(row.contains("PLU list loaded"), "{row}");
    // Another store's manager does not see the agent.
    let mut other = crate::web::console(&app, "mgr.sh002").await;
    let page = other.get("/console/devices").await;
    assert!(!page.body.contains("Fresh counter agent"));
}

both_backends!(
    scale_items_from_the_console_product_page,
    scale_items_from_the_console_product_page
);
both_backends!(
    label_scale_faults_show_on_the_devices_page,
    label_scale_faults_show_on_the_devices_page
);
both_backends!(
    scale_labels_scan_in_scan_and_go_at_the_printed_price,
    scale_labels_in_scan_and_go
);
