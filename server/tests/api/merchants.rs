//! Multi-merchant (issue 20, B2B2C): head office admits merchants and reviews their products,
//! a merchant administrator manages its own products only, the shop shows a merchant page and
//! the seller, and a merchant administrator reaches no route or console page but its own (a
//! matrix over every operation of the OpenAPI document and every page of the console's menu).

use reqwest::StatusCode;
use retail_domain::barcode::ean13_from_body;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;
use crate::web::{between, console, Browser};

const PASSWORD: &str = "Green-Fields-2026!";
/// A merchant administrator's password once [`trading_merchant`] has changed it.
pub(crate) const NEW_PASSWORD: &str = "Orchard-Rows-2027?";

fn new_gtin() -> String {
    let n = Uuid::now_v7().as_u128() % 1_000_000_000;
    ean13_from_body(&format!("698{n:09}")).unwrap()
}

fn product_body(id: Uuid, code: &str, category: &str) -> Value {
    json!({
        "id": id,
        "code": code,
        "name_zh": format!("农场苹果{code}"),
        "name_en": format!("Farm apples {code}"),
        "brand": "绿野",
        "category_id": category,
        "status": "on_shelf",
        "skus": [
            {"id": Uuid::now_v7(), "sku_code": format!("{code}-01"), "spec_zh": "1kg",
             "unit": "袋", "price": "12.80", "barcodes": [{"code": new_gtin()}]}
        ]
    })
}

/// Head office admits and approves merchant `id`, and makes its administrator `user` (who
/// has changed the initial password to [`NEW_PASSWORD`]); answers the administrator's token.
pub(crate) async fn trading_merchant(app: &TestApp, admin: &str, id: &str, user: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/merchants",
            Some(admin),
            json!({"id": id, "name_zh": format!("{id} 农场"), "name_en": format!("{id} farm"),
                   "contact_name": "王", "contact_phone": "13800001111"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            &format!("/api/v1/merchants/{id}/review"),
            Some(admin),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    merchant_admin(app, admin, id, user).await
}

async fn merchant_admin(app: &TestApp, admin: &str, merchant: &str, user: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(admin),
            json!({"id": Uuid::now_v7(), "username": user, "display_name": "商家管理员",
                   "role": "merchant_admin", "merchant_id": merchant, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = token_of(app, user, PASSWORD).await;
    let (status, body) = app
        .post(
            "/api/v1/auth/password",
            Some(&token),
            json!({"old_password": PASSWORD, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    token_of(app, user, NEW_PASSWORD).await
}

/// A product of the merchant whose administrator is `seller`, with one SKU at `price`:
/// created, approved by head office, put on the shelf and stocked (50) at `location`. Answers
/// the SKU's id.
pub(crate) async fn listed_product(
    app: &TestApp,
    admin: &str,
    seller: &str,
    code: &str,
    category: &str,
    price: &str,
    location: &str,
) -> String {
    let id = Uuid::now_v7();
    let sku = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/products",
            Some(seller),
            json!({"id": id, "code": code, "name_zh": format!("商品{code}"), "name_en": code,
                   "brand": "测试", "category_id": category,
                   "skus": [{"id": sku, "sku_code": format!("{code}-01"), "spec_zh": "1件",
                             "price": price, "barcodes": [{"code": new_gtin()}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            &format!("/api/v1/products/{id}/review"),
            Some(admin),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            &format!("/api/v1/products/{id}/status"),
            Some(seller),
            json!({"status": "on_shelf"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/stock/receipts",
            Some(admin),
            json!({"id": Uuid::now_v7(), "location_id": location,
                   "lines": [{"sku_id": sku, "qty": 50}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sku.to_string()
}

async fn token_of(app: &TestApp, user: &str, password: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": user, "password": password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A product of a platform SKU (any on the shelf): (product id, SKU id).
async fn platform_product(app: &TestApp) -> (String, String) {
    let (_, page) = app.get("/api/v1/products?limit=5", None).await;
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(page["items"][0]["merchant_id"], "platform");
    let (_, detail) = app.get(&format!("/api/v1/products/{id}"), None).await;
    (id, detail["skus"][0]["id"].as_str().unwrap().to_owned())
}

async fn merchants_are_admitted_and_their_products_reviewed(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;

    // Admitting: head office only, codes checked, idempotent by code.
    let request = json!({"id": "m-green", "name_zh": "绿野农场", "name_en": "Green Fields"});
    let (status, _) = app
        .post("/api/v1/merchants", Some(&manager), request.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in ["platform", "x", "M_GREEN", "9green"] {
        let (status, body) = app
            .post(
                "/api/v1/merchants",
                Some(&admin),
                json!({"id": bad, "name_zh": "坏"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (status, green) = app
        .post("/api/v1/merchants", Some(&admin), request.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{green}");
    assert_eq!(green["status"], "pending");
    let (status, again) = app.post("/api/v1/merchants", Some(&admin), request).await;
    assert_eq!(
        (status, &again["created_at"]),
        (StatusCode::OK, &green["created_at"])
    );
    let (status, _) = app
        .post(
            "/api/v1/merchants",
            Some(&admin),
            json!({"id": "m-green", "name_zh": "别人"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Its administrator: a merchant account belongs to an existing merchant and no store.
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&admin),
            json!({"id": Uuid::now_v7(), "username": "ma.none", "display_name": "x",
                   "role": "merchant_admin", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["merchant_id"].is_string(), "{body}");
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&admin),
            json!({"id": Uuid::now_v7(), "username": "cashier.m", "display_name": "x",
                   "role": "cashier", "location_id": "SH001", "merchant_id": "m-green",
                   "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let green_admin = merchant_admin(&app, &admin, "m-green", "ma.green").await;
    let (status, me) = app.get("/api/v1/auth/me", Some(&green_admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&me["role"], &me["merchant_id"]),
        (&json!("merchant_admin"), &json!("m-green"))
    );

    // A pending merchant lists nothing.
    let apples = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/products",
            Some(&green_admin),
            product_body(apples, "M-GREEN-1", "FOOD-SNACK-CHIPS"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "merchant_not_approved");
    let (status, body) = app
        .put(
            "/api/v1/merchants/m-green/review",
            Some(&admin),
            json!({"decision": "suspend"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a note is needed: {body}"
    );
    let (status, body) = app
        .put(
            "/api/v1/merchants/m-green/review",
            Some(&admin),
            json!({"decision": "suspend", "note": "尚未开业"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a pending merchant is not suspended: {body}"
    );
    let (status, body) = app
        .put(
            "/api/v1/merchants/m-green/review",
            Some(&admin),
            json!({"decision": "approve", "note": "资质齐全"}),
        )
        .await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("approved"))
    );

    // Its new product waits off the shelf for the platform's review.
    let (status, product) = app
        .post(
            "/api/v1/products",
            Some(&green_admin),
            product_body(apples, "M-GREEN-1", "FOOD-SNACK-CHIPS"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{product}");
    assert_eq!(
        (
            &product["merchant_id"],
            &product["review_status"],
            &product["status"]
        ),
        (&json!("m-green"), &json!("pending"), &json!("off_shelf"))
    );
    let sku = product["skus"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .put(
            &format!("/api/v1/products/{apples}/status"),
            Some(&green_admin),
            json!({"status": "on_shelf"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "product_not_approved");
    // Head office cannot shelve it either before approving it.
    let (status, _) = app
        .put(
            &format!("/api/v1/products/{apples}/status"),
            Some(&admin),
            json!({"status": "on_shelf"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .put(
            &format!("/api/v1/products/{apples}/review"),
            Some(&green_admin),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a merchant does not review itself"
    );
    let (status, body) = app
        .put(
            &format!("/api/v1/products/{apples}/review"),
            Some(&admin),
            json!({"decision": "reject"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .put(
            &format!("/api/v1/products/{apples}/review"),
            Some(&admin),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(
        (status, &body["review_status"]),
        (StatusCode::OK, &json!("approved"))
    );
    let (status, body) = app
        .put(
            &format!("/api/v1/products/{apples}/status"),
            Some(&green_admin),
            json!({"status": "on_shelf"}),
        )
        .await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("on_shelf")),
        "{body}"
    );
    // Its own SKU's price, yes; the platform's, as if it did not exist.
    let (status, body) = app
        .put(
            &format!("/api/v1/skus/{sku}/price"),
            Some(&green_admin),
            json!({"price": "11.80"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (platform_id, platform_sku) = platform_product(&app).await;
    for (path, body) in [
        (
            format!("/api/v1/skus/{platform_sku}/price"),
            json!({"price": "0.01"}),
        ),
        (
            format!("/api/v1/skus/{platform_sku}/status"),
            json!({"status": "off_shelf"}),
        ),
        (
            format!("/api/v1/products/{platform_id}/status"),
            json!({"status": "off_shelf"}),
        ),
    ] {
        let (status, answer) = app.put(&path, Some(&green_admin), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
    }
    let (_, platform_after) = app
        .get(&format!("/api/v1/products/{platform_id}"), None)
        .await;
    assert_eq!(platform_after["status"], "on_shelf");

    // Listings: the shop filters by merchant; the merchant's own listing is its own only.
    let (_, shop) = app.get("/api/v1/products?merchant=m-green", None).await;
    let ids: Vec<&str> = shop["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [apples.to_string()]);
    let (_, own) = app
        .get(
            "/api/v1/products?merchant=platform&limit=200",
            Some(&green_admin),
        )
        .await;
    assert!(
        own["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["merchant_id"] == "m-green"),
        "{own}"
    );
    let (status, list) = app.get("/api/v1/merchants", Some(&green_admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "m-green");
    let (status, _) = app
        .get("/api/v1/merchants/platform", Some(&green_admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = app.get("/api/v1/merchants", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["id"], "platform");

    // The shop: a merchant page and the seller on the product page.
    let mut guest = Browser::new(&app);
    let page = guest.get("/m/m-green").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("绿野农场"), "{}", page.body);
    assert!(page.body.contains(&format!("/p/{apples}")));
    let page = guest.get(&format!("/p/{apples}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        between(&page.body, "id=\"seller\"", "</p>").contains("绿野农场"),
        "{}",
        page.body
    );
    let page = guest.get(&format!("/p/{platform_id}")).await;
    assert!(
        !page.body.contains("id=\"seller\""),
        "the platform's own trade names no seller"
    );
    assert_eq!(guest.get("/m/no-such").await.status, StatusCode::NOT_FOUND);

    // Suspension takes its products off the shelf, and they stay off until put back.
    let (status, body) = app
        .put(
            "/api/v1/merchants/m-green/review",
            Some(&admin),
            json!({"decision": "suspend", "note": "食品证照过期"}),
        )
        .await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("suspended"))
    );
    let (_, detail) = app.get(&format!("/api/v1/products/{apples}"), None).await;
    assert_eq!(detail["status"], "off_shelf");
    assert_eq!(guest.get("/m/m-green").await.status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .put(
            &format!("/api/v1/products/{apples}/status"),
            Some(&green_admin),
            json!({"status": "on_shelf"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "merchant_not_approved");
    let (status, _) = app
        .put(
            "/api/v1/merchants/m-green/review",
            Some(&admin),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail) = app.get(&format!("/api/v1/products/{apples}"), None).await;
    assert_eq!(
        detail["status"], "off_shelf",
        "reinstating shelves nothing by itself"
    );
    let (_, audit) = app
        .get("/api/v1/audit?entity_id=m-green&limit=50", Some(&admin))
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(actions.contains(&"merchant.review"), "{audit}");

    // A rejected product leaves the shelf and cannot be put back.
    let (status, _) = app
        .put(
            &format!("/api/v1/products/{apples}/status"),
            Some(&green_admin),
            json!({"status": "on_shelf"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .put(
            &format!("/api/v1/products/{apples}/review"),
            Some(&admin),
            json!({"decision": "reject", "note": "图片与实物不符"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["status"], &body["review_note"]),
        (&json!("off_shelf"), &json!("图片与实物不符"))
    );
    let (status, _) = app
        .put(
            &format!("/api/v1/products/{apples}/status"),
            Some(&green_admin),
            json!({"status": "on_shelf"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}
crate::both_backends!(
    merchants_are_admitted_and_their_products_reviewed,
    merchants_are_admitted_and_their_products_reviewed
);

/// Commission rates: head office sets them per merchant or for every merchant (`*`) per
/// category; a merchant sees the defaults and its own.
async fn commission_rates_are_set_per_category(app: TestApp) {
    let admin = app.login("admin").await;
    let green = trading_merchant(&app, &admin, "m-rates-a", "ma.rates.a").await;
    let other = trading_merchant(&app, &admin, "m-rates-b", "ma.rates.b").await;
    for (body, field) in [
        (
            json!({"merchant_id": "*", "category_id": "FOOD-SNACK-CHIPS", "rate_bp": 10001}),
            "rate_bp",
        ),
        (
            json!({"merchant_id": "*", "category_id": "NO-SUCH", "rate_bp": 500}),
            "category_id",
        ),
        (
            json!({"merchant_id": "m-none", "category_id": "FOOD-SNACK-CHIPS", "rate_bp": 500}),
            "merchant_id",
        ),
    ] {
        let (status, answer) = app
            .put("/api/v1/commission-rates", Some(&admin), body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer["error"]["fields"][field].is_string(), "{answer}");
    }
    for body in [
        json!({"merchant_id": "*", "category_id": "FOOD-SNACK-CHIPS", "rate_bp": 500}),
        json!({"merchant_id": "m-rates-a", "category_id": "FOOD-SNACK-CHIPS", "rate_bp": 300}),
        json!({"merchant_id": "m-rates-b", "category_id": "FOOD-SNACK-CHIPS", "rate_bp": 800}),
    ] {
        let (status, answer) = app
            .put("/api/v1/commission-rates", Some(&admin), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, _) = app
        .put(
            "/api/v1/commission-rates",
            Some(&green),
            json!({"merchant_id": "m-rates-a", "category_id": "FOOD-SNACK-CHIPS", "rate_bp": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, seen) = app.get("/api/v1/commission-rates", Some(&green)).await;
    let seen: Vec<(String, i64)> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["merchant_id"].as_str().unwrap().to_owned(),
                r["rate_bp"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [("*".to_owned(), 500), ("m-rates-a".to_owned(), 300)]);
    assert_eq!(
        retail_server::storage::merchants::commission_rate_of(
            &app.state.store,
            "m-rates-b",
            "FOOD-SNACK-CHIPS"
        )
        .await
        .unwrap(),
        800
    );
    assert_eq!(
        retail_server::storage::merchants::commission_rate_of(
            &app.state.store,
            "m-rates-c",
            "FOOD-SNACK-CHIPS"
        )
        .await
        .unwrap(),
        500,
        "the default for a merchant without its own"
    );
    let (status, _) = app
        .put(
            "/api/v1/commission-rates",
            Some(&admin),
            json!({"merchant_id": "m-rates-a", "category_id": "FOOD-SNACK-CHIPS", "rate_bp": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        retail_server::storage::merchants::commission_rate_of(
            &app.state.store,
            "m-rates-a",
            "FOOD-SNACK-CHIPS"
        )
        .await
        .unwrap(),
        500
    );
    drop(other);
}
crate::both_backends!(
    commission_rates_are_set_per_category,
    commission_rates_are_set_per_category
);

/// The isolation matrix: every operation of the OpenAPI document a merchant administrator
/// is not listed for answers 403 (or 401 where it takes another kind of credential) before
/// its handler runs, whatever the ids and body; the console's every page but its own is
/// closed to it, and nothing changed.
async fn a_merchant_admin_reaches_nothing_but_its_own(app: TestApp) {
    let admin = app.login("admin").await;
    let token = trading_merchant(&app, &admin, "m-iso", "ma.iso").await;
    let (status, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let (platform_id, platform_sku) = platform_product(&app).await;
    let (_, before) = app
        .get(&format!("/api/v1/products/{platform_id}"), None)
        .await;
    let allowed: Vec<(String, String)> = retail_server::auth::MERCHANT_ROUTES
        .iter()
        .map(|(m, p)| (m.to_lowercase(), (*p).to_owned()))
        .collect();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let public = op["security"].as_array().is_none_or(|reqs| {
                reqs.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            let route = path.strip_prefix("/api/v1").unwrap_or(path);
            if public || allowed.contains(&(method.clone(), route.to_owned())) {
                continue;
            }
            // Ids of the platform's own data, so an unguarded handler would find them.
            let url = format!("/api/v1{route}")
                .replace("{sku_id}", &platform_sku)
                .replace("{id}", &platform_id)
                .replace("{store}", "SH001")
                .replace("{location_id}", "SH001");
            let url = regex_free_params(&url);
            let client = reqwest::Client::new();
            let request = client
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{url}", app.url),
                )
                .bearer_auth(&token)
                .json(&json!({}));
            let status = request.send().await.unwrap().status();
            assert!(
                status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
                "{method} {route} answered a merchant administrator {status}"
            );
            checked += 1;
        }
    }
    // A floor against a walk that finds nothing (146 closed operations once the staff routes
    // were listed for merchants).
    assert!(checked > 140, "only {checked} operations walked");
    let (_, after) = app
        .get(&format!("/api/v1/products/{platform_id}"), None)
        .await;
    assert_eq!(before, after, "nothing of the platform's changed");

    // The console: every page of head office's menu is closed to the merchant.
    let mut desk = console(&app, "admin").await;
    let home = desk.get("/console").await;
    let mut pages: Vec<String> = home
        .body
        .split("href=\"/console")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|rest| format!("/console{rest}"))
        .collect();
    pages.sort();
    pages.dedup();
    assert!(pages.len() > 30, "{pages:?}");
    let mut merchant = Browser::new(&app);
    let login = merchant
        .post_csrf(
            "/console/login",
            &[
                ("username", "ma.iso"),
                ("password", NEW_PASSWORD),
                ("back", "/console"),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    for page in &pages {
        let seen = merchant.get(page).await;
        match page.as_str() {
            "/console" => assert_eq!(seen.location.as_deref(), Some("/console/merchant")),
            "/console/password" | "/console/merchant" | "/console/settlements" => {}
            _ if page.starts_with("/console/settlements") => {}
            _ => assert_eq!(seen.status, StatusCode::FORBIDDEN, "{page}"),
        }
    }
    let own = merchant.get("/console/merchant").await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.body.contains("m-iso"), "{}", own.body);
    assert!(!own.body.contains("/console/orders"), "no platform menu");
}
crate::both_backends!(
    a_merchant_admin_reaches_nothing_but_its_own,
    a_merchant_admin_reaches_nothing_but_its_own
);

/// Path parameters the substitutions above did not name, filled with a plausible id.
fn regex_free_params(url: &str) -> String {
    let mut out = String::new();
    let mut rest = url;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&Uuid::now_v7().to_string());
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// A member's delivery order from WH01 of one unit of `sku`, paid and delivered: (order id,
/// its access token).
async fn delivered_order(app: &TestApp, phone: &str, sku: &str) -> (Uuid, String) {
    let admin = app.login("admin").await;
    let member = crate::pricing::register_member_named(app, phone, "商家售后").await;
    let code = crate::pricing::member_code(app, &admin, member).await;
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "delivery",
                   "address": {"name": "李四", "phone": phone, "address": "上海市浦东新区世纪大道1号"},
                   "member_code": code, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    crate::refund_approvals::pay_at_sandbox(app, id).await;
    crate::after_sales::deliver(app, id).await;
    (id, order["access_token"].as_str().unwrap().to_owned())
}

/// A return asked for by the shopper: the case id.
async fn ask_return(app: &TestApp, order: Uuid, token: &str) -> String {
    let (status, case) = crate::after_sales::as_shopper(
        app,
        token,
        reqwest::Method::POST,
        &format!("/api/v1/orders/{order}/after-sales"),
        Some(
            json!({"id": Uuid::now_v7(), "kind": "return_refund", "reason": "quality",
                    "description": "不新鲜", "lines": [{"line_no": 1, "qty": 1}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    case["id"].as_str().unwrap().to_owned()
}

/// After-sales go to the right merchant: a case about a merchant's goods is in its queue (and
/// head office's), not in another merchant's, and only it (or the platform) decides on it.
async fn after_sales_go_to_the_merchant_of_the_goods(app: TestApp) {
    let admin = app.login("admin").await;
    let fresh = trading_merchant(&app, &admin, "m-fresh", "ma.fresh").await;
    let other = trading_merchant(&app, &admin, "m-other", "ma.other").await;
    // The merchant's goods are stocked in the platform's warehouse (fulfilled by the platform).
    let sku = listed_product(
        &app,
        &admin,
        &fresh,
        "M-FRESH-1",
        "FOOD-SNACK-CHIPS",
        "12.80",
        "WH01",
    )
    .await;
    let (order, token) = delivered_order(&app, "13900190001", &sku).await;
    let case = ask_return(&app, order, &token).await;

    let queue_of = |token: String| {
        let app = &app;
        async move {
            let (status, queue) = app.get("/api/v1/after-sales?all=true", Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{queue}");
            queue["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(queue_of(fresh.clone()).await, std::slice::from_ref(&case));
    assert!(queue_of(other.clone()).await.is_empty());
    assert!(queue_of(admin.clone()).await.contains(&case));
    // Another merchant cannot decide on it (as if it did not exist); its own merchant can.
    let (status, _) = app
        .post(
            &format!("/api/v1/after-sales/{case}/approve"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, decided) = app
        .post(
            &format!("/api/v1/after-sales/{case}/approve"),
            Some(&fresh),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decided_by"], "staff:ma.fresh");
}
crate::both_backends!(
    after_sales_go_to_the_merchant_of_the_goods,
    after_sales_go_to_the_merchant_of_the_goods
);

/// Logs `user` in to the console in a real browser and waits for `landing`.
async fn console_in_browser(
    app: &TestApp,
    client: &fantoccini::Client,
    user: &str,
    password: &str,
    landing: &str,
) {
    use crate::browser::{click_to_next_page, type_into, wait_path};
    client
        .goto(&format!("{}/console/login?back=/console", app.url))
        .await
        .unwrap();
    type_into(client, "#username", user).await;
    type_into(client, "#password", password).await;
    click_to_next_page(client, "form button[type=submit]").await;
    wait_path(client, landing).await;
}

/// The merchant pages as people use them, in a real browser: head office admits and approves a
/// merchant on `/console/merchants` and approves its product from the review queue; the
/// merchant's administrator puts it on the shelf from its home page; a shopper finds it on the
/// merchant's shop page.
async fn merchant_pages_work_in_a_browser(app: TestApp) {
    use crate::browser::{browser, click_to_next_page, start_driver, type_into, wait_for_text};
    if !crate::browser::browser_available() {
        return;
    }
    let driver = start_driver().await;
    let office = browser(&driver, false).await;
    console_in_browser(&app, &office, "admin", "demo1234", "/console").await;
    office
        .goto(&format!("{}/console/merchants", app.url))
        .await
        .unwrap();
    type_into(&office, "#admit-merchant input[name=id]", "m-web").await;
    type_into(&office, "#admit-merchant input[name=name_zh]", "网页农场").await;
    click_to_next_page(&office, "#admit-merchant button[type=submit]").await;
    wait_for_text(&office, "tr[data-merchant=\"m-web\"]", "待审核").await;
    click_to_next_page(&office, "tr[data-merchant=\"m-web\"] button[type=submit]").await;
    wait_for_text(&office, "tr[data-merchant=\"m-web\"]", "经营中").await;

    // Its administrator and a product waiting for review (through the API).
    let admin = app.login("admin").await;
    let seller = merchant_admin(&app, &admin, "m-web", "ma.web").await;
    let product = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/products",
            Some(&seller),
            product_body(product, "M-WEB-1", "FOOD-SNACK-CHIPS"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    office
        .goto(&format!("{}/console/merchants", app.url))
        .await
        .unwrap();
    let row = format!("#product-review tr[data-product=\"{product}\"]");
    wait_for_text(&office, &row, "M-WEB-1").await;
    click_to_next_page(&office, &format!("{row} button[type=submit]")).await;
    wait_for_text(&office, "#product-review", "没有待审核的商品").await;
    office.close().await.unwrap();

    // The merchant lands on its home and puts the product on the shelf.
    let shop = browser(&driver, false).await;
    console_in_browser(&app, &shop, "ma.web", NEW_PASSWORD, "/console/merchant").await;
    let mine = format!("#merchant-products tr[data-product=\"{product}\"]");
    wait_for_text(&shop, &mine, "未上架").await;
    click_to_next_page(&shop, &format!("{mine} button[type=submit]")).await;
    wait_for_text(&shop, &mine, "在售").await;

    // A shopper finds it on the merchant's page.
    shop.goto(&format!("{}/m/m-web", app.url)).await.unwrap();
    wait_for_text(&shop, "#merchant-products", "农场苹果M-WEB-1").await;
    shop.close().await.unwrap();
}
crate::both_backends!(
    merchant_pages_work_in_a_browser,
    merchant_pages_work_in_a_browser
);

/// Each merchant fulfils its own orders: a delivery checkout of two merchants' goods is two
/// orders, paid once (the sandbox); each merchant administrator lists only its own order, reads
/// only its own order's address, and ships it — from the API or its console home — while the
/// other's is 404 to it.
async fn each_merchant_ships_its_own_orders(app: TestApp) {
    let admin = app.login("admin").await;
    let fresh = trading_merchant(&app, &admin, "m-ship-a", "ma.ship.a").await;
    let other = trading_merchant(&app, &admin, "m-ship-b", "ma.ship.b").await;
    let sku_a = listed_product(
        &app,
        &admin,
        &fresh,
        "M-SHIP-A",
        "FOOD-SNACK-CHIPS",
        "12.80",
        "WH01",
    )
    .await;
    let sku_b = listed_product(
        &app,
        &admin,
        &other,
        "M-SHIP-B",
        "FOOD-SNACK-CHIPS",
        "6.40",
        "WH01",
    )
    .await;
    let checkout = Uuid::now_v7();
    let (status, placed) = app
        .post(
            "/api/v1/checkouts",
            None,
            json!({"id": checkout, "fulfilment": "delivery",
                   "address": {"name": "赵六", "phone": "13900190077", "address": "上海市浦东新区世纪大道1号"},
                   "lines": [{"sku_id": sku_a, "qty": 1}, {"sku_id": sku_b, "qty": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let ids: Vec<String> = placed["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{placed}");
    let (a_order, b_order) = (&ids[0], &ids[1]);
    // One sandbox payment for both.
    let (status, intent) = app
        .post(
            &format!("/api/v1/checkouts/{checkout}/payments"),
            None,
            json!({"id": Uuid::now_v7(), "provider": "sandbox"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    crate::bus::confirm_at_sandbox(&app, intent["pay_url"].as_str().unwrap()).await;
    for id in &ids {
        let (_, order) = app.get(&format!("/api/v1/orders/{id}"), Some(&admin)).await;
        assert_eq!(order["status"], "paid", "{order}");
    }

    // Each lists its own order only.
    for (token, own) in [(&fresh, a_order), (&other, b_order)] {
        let (status, list) = app.get("/api/v1/orders", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let listed: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert_eq!(listed, vec![own.as_str()], "{list}");
    }
    // The other's order: its address and its shipping are 404.
    let (status, _) = app
        .get(&format!("/api/v1/orders/{b_order}/delivery"), Some(&fresh))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{b_order}/waybill"),
            Some(&fresh),
            json!({"carrier": "SF", "waybill": "SF1000000001"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, delivery) = app
        .get(&format!("/api/v1/orders/{a_order}/delivery"), Some(&fresh))
        .await;
    assert_eq!(status, StatusCode::OK, "{delivery}");
    assert_eq!(delivery["address"]["name"], "赵六");
    let (status, shipped) = app
        .post(
            &format!("/api/v1/orders/{a_order}/waybill"),
            Some(&fresh),
            json!({"carrier": "SF", "waybill": "SF1000000001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shipped}");
    assert_eq!(shipped["status"], "shipped");

    // The other merchant ships from its console home.
    let mut console = crate::web::Browser::new(&app);
    let page = console
        .post_csrf(
            "/console/login",
            &[
                ("username", "ma.ship.b"),
                ("password", NEW_PASSWORD),
                ("back", "/console"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = console.get("/console/merchant").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(&format!("data-order=\"{b_order}\"")),
        "{}",
        page.body
    );
    assert!(!page.body.contains(a_order.as_str()), "only its own");
    assert!(page.body.contains("赵六"), "the address to ship to");
    let page = console
        .post_csrf(
            &format!("/console/merchant/orders/{b_order}/ship"),
            &[("carrier", "YTO"), ("waybill", "YT2000000002")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (_, order) = app
        .get(&format!("/api/v1/orders/{b_order}"), Some(&admin))
        .await;
    assert_eq!(order["status"], "shipped", "{order}");
    let page = console.get("/console/merchant").await;
    assert!(page.body.contains("no-orders-to-ship"), "{}", page.body);
    // Another merchant's order through the console form: not found, nothing shipped.
    let page = console
        .post_csrf(
            &format!("/console/merchant/orders/{a_order}/ship"),
            &[("carrier", "YTO"), ("waybill", "YT2000000003")],
        )
        .await;
    assert_ne!(page.status, StatusCode::OK);
    let (_, delivery) = app
        .get(&format!("/api/v1/orders/{a_order}/delivery"), Some(&admin))
        .await;
    assert_eq!(
        delivery["delivery"]["waybill"], "SF1000000001",
        "{delivery}"
    );
}
crate::both_backends!(
    each_merchant_ships_its_own_orders,
    each_merchant_ships_its_own_orders
);

/// Text values of the first column of what `sql` answers (to see what refused calls left).
async fn rows_of(app: &TestApp, sql: &str) -> Vec<String> {
    crate::fuzz::column(app, sql).await
}

/// The codes of a `GET /locations` answer.
fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids of a list (or a page's `items`) of devices or promotions.
fn ids_in(list: &Value) -> Vec<String> {
    let items = list["items"].as_array().or(list.as_array()).unwrap();
    items
        .iter()
        .map(|i| {
            i["id"]
                .as_str()
                .or(i["promotion"]["id"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The unit price (fen) the quote of `lines` (delivery, from the platform's warehouse) gives
/// each SKU of `skus`.
async fn quoted(app: &TestApp, skus: &[&str]) -> Vec<String> {
    let lines: Vec<Value> = skus
        .iter()
        .map(|s| json!({"sku_id": s, "qty": 1}))
        .collect();
    let (status, quote) = app
        .post("/api/v1/pricing/quote", None, json!({"lines": lines}))
        .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    skus.iter()
        .map(|s| {
            let line = quote["lines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["sku_id"] == *s)
                .unwrap_or_else(|| panic!("{s} not in {quote}"));
            line["unit_price"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// B2B2C: a merchant administrator opens its own stores, registers and revokes the devices at
/// them and runs promotions on its own goods; another merchant sees none of it (404, empty
/// lists), a promotion that could touch other merchants' goods or stores is refused (422) and
/// stores nothing, a store never changes merchant (409), and head office sees everything.
async fn merchants_run_their_own_stores_devices_and_promotions(app: TestApp) {
    let admin = app.login("admin").await;
    let orchard = trading_merchant(&app, &admin, "m-orchard", "ma.orchard").await;
    let dairy = trading_merchant(&app, &admin, "m-dairy", "ma.dairy").await;
    let store = |id: &str, name: &str| {
        json!({"id": id, "kind": "store", "name_zh": name, "name_en": name,
               "city": "上海", "address": "浦东新区果园路 1 号"})
    };
    let merchant_of_locations = || {
        rows_of(
            &app,
            "SELECT id || ':' || merchant_id FROM locations ORDER BY id",
        )
    };

    // Stores: its own (merchant_id omitted), never another's, never a head office.
    let (status, opened) = app
        .post(
            "/api/v1/locations",
            Some(&orchard),
            store("MO-001", "果园一店"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(opened["merchant_id"], "m-orchard");
    let locations_before = merchant_of_locations().await;
    let mut for_dairy = store("MO-002", "果园二店");
    for_dairy["merchant_id"] = json!("m-dairy");
    let (status, _) = app
        .post("/api/v1/locations", Some(&orchard), for_dairy)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut office = store("MO-003", "果园总部");
    office["kind"] = json!("head_office");
    let (status, body) = app.post("/api/v1/locations", Some(&orchard), office).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The platform's store and the other merchant's are not there for it.
    let (status, _) = app
        .post("/api/v1/locations", Some(&orchard), store("SH001", "改名"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            "/api/v1/locations",
            Some(&dairy),
            store("MO-001", "乳业改名"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Head office: an unknown merchant is 422, one not approved 409.
    let (status, body) = app
        .post(
            "/api/v1/merchants",
            Some(&admin),
            json!({"id": "m-refused", "name_zh": "被拒农场"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            "/api/v1/merchants/m-refused/review",
            Some(&admin),
            json!({"decision": "reject", "note": "资质不全"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (merchant, expected, code) in [
        (
            "m-ghost",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        ("m-refused", StatusCode::CONFLICT, "merchant_not_approved"),
    ] {
        let mut body = store("MX-001", "无主");
        body["merchant_id"] = json!(merchant);
        let (status, answer) = app.post("/api/v1/locations", Some(&admin), body).await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (expected, &json!(code)),
            "{answer}"
        );
    }
    // Nobody moves a store to another merchant, head office included.
    for (id, merchant) in [
        ("MO-001", "m-dairy"),
        ("MO-001", "platform"),
        ("SH001", "m-orchard"),
    ] {
        let mut body = store(id, "搬家");
        body["merchant_id"] = json!(merchant);
        let (status, answer) = app.post("/api/v1/locations", Some(&admin), body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["error"]["code"], "merchant_mismatch");
    }
    assert_eq!(
        merchant_of_locations().await,
        locations_before,
        "nothing moved or opened"
    );
    // Head office updates the merchant's store (it stays the merchant's).
    let (status, renamed) = app
        .post(
            "/api/v1/locations",
            Some(&admin),
            store("MO-001", "果园旗舰店"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["merchant_id"], "m-orchard");
    // The public list filters by merchant.
    let (status, listed) = app.get("/api/v1/locations?merchant=m-orchard", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(codes(&listed), ["MO-001"]);
    assert_eq!(listed[0]["name_zh"], "果园旗舰店");
    let (_, of_dairy) = app.get("/api/v1/locations?merchant=m-dairy", None).await;
    assert_eq!(of_dairy, json!([]));
    let (_, all) = app.get("/api/v1/locations", None).await;
    assert!(
        codes(&all).contains(&"SH001".to_owned()) && codes(&all).contains(&"MO-001".to_owned())
    );

    // Devices: at its own store only; the credential works.
    let device = Uuid::now_v7();
    let (status, registered) = app
        .post(
            "/api/v1/devices",
            Some(&orchard),
            json!({"id": device, "location_id": "MO-001", "kind": "pos", "name": "果园 1 号收银"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let credential = registered["credential"].as_str().unwrap().to_owned();
    let (status, me) = app.get("/api/v1/devices/me", Some(&credential)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["location_id"], "MO-001");
    let devices_before = rows_of(&app, "SELECT id FROM devices ORDER BY id").await;
    for (token, location) in [(&orchard, "SH001"), (&dairy, "MO-001")] {
        let (status, body) = app
            .post(
                "/api/v1/devices",
                Some(token),
                json!({"id": Uuid::now_v7(), "location_id": location, "kind": "pos", "name": "越界"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(
        rows_of(&app, "SELECT id FROM devices ORDER BY id").await,
        devices_before
    );
    let (status, mine) = app.get("/api/v1/devices", Some(&orchard)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(ids_in(&mine), [device.to_string()]);
    let (status, theirs) = app.get("/api/v1/devices", Some(&dairy)).await;
    assert_eq!((status, theirs), (StatusCode::OK, json!([])));
    for (token, location) in [(&dairy, "MO-001"), (&orchard, "SH001")] {
        let (status, _) = app
            .get(
                &format!("/api/v1/devices?location_id={location}"),
                Some(token),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{location}");
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/devices/{device}/revoke"),
            Some(&dairy),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/api/v1/devices/me", Some(&credential)).await;
    assert_eq!(status, StatusCode::OK, "still working");
    // A platform device is not the merchant's to revoke either; head office sees both.
    let (platform_device, _) = app
        .register_device("admin", "SH001", "pos", "平台收银")
        .await;
    let (_, everything) = app.get("/api/v1/devices", Some(&admin)).await;
    let everything = ids_in(&everything);
    assert!(
        everything.contains(&device.to_string())
            && everything.contains(&platform_device.to_string())
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/devices/{platform_device}/revoke"),
            Some(&orchard),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Promotions: on its own goods only.
    let apples = listed_product(
        &app,
        &admin,
        &orchard,
        "MO-APPLE",
        "FOOD-SNACK-CHIPS",
        "20.00",
        "WH01",
    )
    .await;
    let milk = listed_product(
        &app,
        &admin,
        &dairy,
        "MD-MILK",
        "FOOD-SNACK-CHIPS",
        "9.90",
        "WH01",
    )
    .await;
    let (_, platform_sku) = platform_product(&app).await;
    let prices_before = quoted(&app, &[&apples, &platform_sku]).await;
    assert_eq!(prices_before[0], "20.00");
    let now = chrono::Utc::now();
    let (from, until) = (
        (now - chrono::Duration::hours(1)).to_rfc3339(),
        (now + chrono::Duration::days(3)).to_rfc3339(),
    );
    let promotion = |scope: Value, stores: Value, rule: Value| {
        json!({"promotion": {"id": Uuid::now_v7(), "name_zh": "果园特价", "name_en": "Orchard sale",
                             "starts_at": from, "ends_at": until, "stores": stores,
                             "scope": scope, "rule": rule}})
    };
    let sale = json!({"kind": "sale_price", "prices": [{"sku_id": apples, "price": "15.00"}]});
    let percent = json!({"kind": "percent_off", "price_factor": "0.8"});
    let promotions_before = rows_of(&app, "SELECT id FROM promotions ORDER BY id").await;
    let mut flash = promotion(json!({"skus": [apples]}), json!([]), sale.clone());
    flash["flash_sale"] = json!({"total_qty": 10, "per_member_limit": 1});
    for (what, body) in [
        (
            "a category",
            promotion(
                json!({"categories": ["FOOD-SNACK-CHIPS"]}),
                json!([]),
                percent.clone(),
            ),
        ),
        (
            "a brand",
            promotion(
                json!({"skus": [apples], "brands": ["测试"]}),
                json!([]),
                percent.clone(),
            ),
        ),
        (
            "the whole basket",
            promotion(json!({}), json!([]), percent.clone()),
        ),
        (
            "another merchant's SKU",
            promotion(json!({"skus": [apples, milk]}), json!([]), percent.clone()),
        ),
        (
            "the platform's SKU",
            promotion(json!({"skus": [platform_sku]}), json!([]), percent.clone()),
        ),
        (
            "a sale price of another's SKU",
            promotion(
                json!({"skus": [apples]}),
                json!([]),
                json!({"kind": "sale_price", "prices": [{"sku_id": milk, "price": "1.00"}]}),
            ),
        ),
        (
            "the platform's store",
            promotion(json!({"skus": [apples]}), json!(["SH001"]), percent.clone()),
        ),
        ("a flash sale", flash),
    ] {
        let (status, body) = app.post("/api/v1/promotions", Some(&orchard), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
    }
    assert_eq!(
        rows_of(&app, "SELECT id FROM promotions ORDER BY id").await,
        promotions_before,
        "refused promotions stored nothing"
    );
    // A sale price of its own SKU, everywhere, and a discount at its own store.
    let (status, on_sale) = app
        .post(
            "/api/v1/promotions",
            Some(&orchard),
            promotion(json!({"skus": [apples]}), json!([]), sale),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{on_sale}");
    assert_eq!(on_sale["merchant_id"], "m-orchard");
    let on_sale = on_sale["promotion"]["id"].as_str().unwrap().to_owned();
    let (status, in_store) = app
        .post(
            "/api/v1/promotions",
            Some(&orchard),
            promotion(json!({"skus": [apples]}), json!(["MO-001"]), percent),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{in_store}");
    let in_store = in_store["promotion"]["id"].as_str().unwrap().to_owned();
    // The pricing context is cached for a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let prices_after = quoted(&app, &[&apples, &platform_sku]).await;
    assert_eq!(prices_after[0], "15.00", "its SKU on sale");
    assert_eq!(
        prices_after[1], prices_before[1],
        "the platform's SKU untouched"
    );
    // Lists: its own; the other merchant sees none of them and cannot end them.
    let (status, mine) = app
        .get("/api/v1/promotions?current=false", Some(&orchard))
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let mut own = ids_in(&mine);
    own.sort();
    let mut expected = vec![on_sale.clone(), in_store.clone()];
    expected.sort();
    assert_eq!(own, expected);
    let (status, theirs) = app
        .get("/api/v1/promotions?current=false", Some(&dairy))
        .await;
    assert_eq!(
        (status, ids_in(&theirs)),
        (StatusCode::OK, Vec::<String>::new())
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/promotions/{on_sale}/end"),
            Some(&dairy),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, everything) = app
        .get("/api/v1/promotions?current=false&limit=200", Some(&admin))
        .await;
    let everything = ids_in(&everything);
    assert!(everything.contains(&on_sale) && everything.contains(&in_store));
    assert_eq!(quoted(&app, &[&apples]).await, ["15.00"], "still on sale");
    // A platform promotion is not the merchant's to end.
    let platform_promotion = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/promotions",
            Some(&admin),
            json!({"promotion": {"id": platform_promotion, "name_zh": "平台满减",
                   "starts_at": from, "ends_at": until,
                   "rule": {"kind": "full_reduction", "tiers": [{"threshold": "999.00", "reduction": "1.00"}]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["merchant_id"], "platform");
    let (status, _) = app
        .post(
            &format!("/api/v1/promotions/{platform_promotion}/end"),
            Some(&orchard),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Its console home lists its stores, devices and current promotions, and nothing else's.
    let mut desk = Browser::new(&app);
    let login = desk
        .post_csrf(
            "/console/login",
            &[
                ("username", "ma.orchard"),
                ("password", NEW_PASSWORD),
                ("back", "/console/merchant"),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let home = desk.get("/console/merchant").await;
    assert_eq!(home.status, StatusCode::OK);
    let stores = between(&home.body, "id=\"merchant-stores\"", "</table>");
    assert!(
        stores.contains("MO-001") && !stores.contains("SH001"),
        "{stores}"
    );
    let devices = between(&home.body, "id=\"merchant-devices\"", "</table>");
    assert!(devices.contains(&device.to_string()), "{devices}");
    assert!(!devices.contains(&platform_device.to_string()), "{devices}");
    let promotions = between(&home.body, "id=\"merchant-promotions\"", "</table>");
    assert!(
        promotions.contains(&on_sale) && promotions.contains(&in_store),
        "{promotions}"
    );
    assert!(
        !promotions.contains(&platform_promotion.to_string()),
        "{promotions}"
    );

    // It ends its own promotion and revokes its own device.
    let (status, ended) = app
        .post(
            &format!("/api/v1/promotions/{on_sale}/end"),
            Some(&orchard),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert!(ended["ended_at"].is_string(), "{ended}");
    let (status, revoked) = app
        .post(
            &format!("/api/v1/devices/{device}/revoke"),
            Some(&orchard),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    let (status, _) = app.get("/api/v1/devices/me", Some(&credential)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
crate::both_backends!(
    merchants_run_their_own_stores_devices_and_promotions,
    merchants_run_their_own_stores_devices_and_promotions
);

/// The user names of a `GET /staff` answer (or a lane roster's `staff`).
fn usernames(list: &Value) -> Vec<String> {
    list.as_array()
        .or(list["staff"].as_array())
        .unwrap()
        .iter()
        .map(|s| s["username"].as_str().unwrap().to_owned())
        .collect()
}

/// B2B2C: a merchant administrator staffs its own stores — it creates their store managers and
/// cashiers (who log in and work as at any store, and are on the store's lane roster), lists
/// and administers them and nobody else; another merchant finds none of them (404) and staffs
/// no store but its own (422); no merchant makes a head-office or merchant administrator (403)
/// or moves its staff to a store not its own; refused calls change nothing; head office still
/// administers everyone, at merchants' stores too.
async fn a_merchant_staffs_its_own_stores(app: TestApp) {
    let admin = app.login("admin").await;
    let baker = trading_merchant(&app, &admin, "m-baker", "ma.baker").await;
    let brewer = trading_merchant(&app, &admin, "m-brew", "ma.brew").await;
    for (id, name) in [("MB-001", "面包一店"), ("MB-002", "面包二店")] {
        let (status, body) = app
            .post(
                "/api/v1/locations",
                Some(&baker),
                json!({"id": id, "kind": "store", "name_zh": name, "name_en": name,
                       "city": "上海", "address": "徐汇区面包路 2 号"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let person = |id: Uuid, user: &str, role: &str, location: &str| {
        json!({"id": id, "username": user, "display_name": user, "role": role,
               "location_id": location, "password": PASSWORD})
    };

    // A cashier and a store manager at its own store; a retry answers the same account.
    let (cashier, manager) = (Uuid::now_v7(), Uuid::now_v7());
    let cashier_body = person(cashier, "cashier.mb001", "cashier", "MB-001");
    for _ in 0..2 {
        let (status, body) = app
            .post("/api/v1/staff", Some(&baker), cashier_body.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (&body["id"], &body["location_id"], &body["role"]),
            (&json!(cashier), &json!("MB-001"), &json!("cashier"))
        );
        assert_eq!(body["must_change_password"], true);
    }
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&baker),
            person(manager, "mgr.mb001", "store_manager", "MB-001"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            &format!("/api/v1/staff/{cashier}/pin"),
            Some(&baker),
            json!({"pin": "480315"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["has_pin"], true);

    // They log in and work as at any store: the manager administers its store's staff only.
    let cashier_token = token_of(&app, "cashier.mb001", PASSWORD).await;
    let manager_token = token_of(&app, "mgr.mb001", PASSWORD).await;
    let (status, body) = app
        .post(
            "/api/v1/auth/password",
            Some(&manager_token),
            json!({"old_password": PASSWORD, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let manager_token = token_of(&app, "mgr.mb001", NEW_PASSWORD).await;
    let (status, seen) = app.get("/api/v1/staff", Some(&manager_token)).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(usernames(&seen), ["cashier.mb001", "mgr.mb001"]);
    let (status, _) = app
        .get("/api/v1/staff?location=SH001", Some(&manager_token))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, me) = app.get("/api/v1/auth/me", Some(&cashier_token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["location_id"], "MB-001");

    // The store's lane roster has its cashier, as a platform store's has its own.
    let (status, registered) = app
        .post(
            "/api/v1/devices",
            Some(&baker),
            json!({"id": Uuid::now_v7(), "location_id": "MB-001", "kind": "pos", "name": "面包 1 号收银"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let lane = registered["credential"].as_str().unwrap().to_owned();
    let (status, roster) = app.get("/api/v1/devices/me/roster", Some(&lane)).await;
    assert_eq!(status, StatusCode::OK, "{roster}");
    let on_roster = usernames(&roster);
    assert!(on_roster.contains(&"cashier.mb001".to_owned()), "{roster}");
    assert!(
        !on_roster.contains(&"cashier1.sh001".to_owned()),
        "{roster}"
    );
    assert!(!on_roster.iter().any(|u| u.starts_with("ma.")), "{roster}");

    // It lists its own stores' staff only: never head office, another merchant's or a
    // merchant administrator.
    let (status, mine) = app.get("/api/v1/staff", Some(&baker)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(usernames(&mine), ["cashier.mb001", "mgr.mb001"]);
    let (status, one) = app.get("/api/v1/staff?location=MB-001", Some(&baker)).await;
    assert_eq!((status, usernames(&one).len()), (StatusCode::OK, 2));
    let (status, _) = app.get("/api/v1/staff?location=SH001", Some(&baker)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, theirs) = app.get("/api/v1/staff", Some(&brewer)).await;
    assert_eq!((status, theirs), (StatusCode::OK, json!([])));
    let (status, _) = app
        .get("/api/v1/staff?location=MB-001", Some(&brewer))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, one) = app
        .get(&format!("/api/v1/staff/{cashier}"), Some(&baker))
        .await;
    assert_eq!(
        (status, &one["username"]),
        (StatusCode::OK, &json!("cashier.mb001"))
    );

    // Everyone else's accounts, from head office's list.
    let (status, everyone) = app.get("/api/v1/staff", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{everyone}");
    let id_of = |user: &str| {
        everyone
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["username"] == user)
            .unwrap_or_else(|| panic!("{user} not in {everyone}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let all = usernames(&everyone);
    for user in [
        "cashier.mb001",
        "mgr.mb001",
        "cashier1.sh001",
        "ma.baker",
        "ma.brew",
        "admin",
    ] {
        assert!(all.contains(&user.to_owned()), "head office sees {user}");
    }
    let platform_cashier = id_of("cashier1.sh001");
    let other_merchant_admin = id_of("ma.brew");
    let own_admin = id_of("ma.baker");

    let staff_rows = || {
        rows_of(
            &app,
            "SELECT username || ':' || role || ':' || COALESCE(location_id, '-') || ':' \
             || COALESCE(merchant_id, '-') || ':' || CAST(active AS TEXT) || ':' || display_name \
             || ':' || password_hash || ':' || COALESCE(pin_hash, '-') FROM staff ORDER BY username",
        )
    };
    let before = staff_rows().await;

    // Another merchant finds none of its staff: read, update, password, PIN.
    let cashier_path = format!("/api/v1/staff/{cashier}");
    let (status, _) = app.get(&cashier_path, Some(&brewer)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = crate::staff_admin::patch(
        &app,
        &cashier_path,
        &brewer,
        json!({"display_name": "夺走", "location_id": "MB-001"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("{cashier_path}/password"),
            Some(&brewer),
            json!({"password": "copper lantern meadow 77"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            &format!("{cashier_path}/pin"),
            Some(&brewer),
            json!({"pin": "730264"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .delete(&format!("{cashier_path}/pin"), Some(&brewer))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nor does it find the platform's staff or any merchant administrator (its own included).
    for id in [&platform_cashier, &other_merchant_admin, &own_admin] {
        let path = format!("/api/v1/staff/{id}");
        let (status, _) = app.get(&path, Some(&baker)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        let (status, _) =
            crate::staff_admin::patch(&app, &path, &baker, json!({"display_name": "改名"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        let (status, _) = app
            .post(
                &format!("{path}/password"),
                Some(&baker),
                json!({"password": "copper lantern meadow 77"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
    // Nobody staffs another's store: the other merchant's or the platform's.
    for (token, location) in [(&brewer, "MB-001"), (&brewer, "SH001"), (&baker, "SH001")] {
        for role in ["cashier", "store_manager"] {
            let (status, body) = app
                .post(
                    "/api/v1/staff",
                    Some(token),
                    person(Uuid::now_v7(), "intruder.one", role, location),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{location}: {body}"
            );
            assert!(body["error"]["fields"]["location_id"].is_string(), "{body}");
        }
    }
    // Never a head-office or merchant administrator.
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&baker),
            json!({"id": Uuid::now_v7(), "username": "boss.baker", "display_name": "老板",
                   "role": "head_office_admin", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&baker),
            json!({"id": Uuid::now_v7(), "username": "ma.baker2", "display_name": "副管理员",
                   "role": "merchant_admin", "merchant_id": "m-baker", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Its cashier stays at its stores and a store role.
    let (status, body) =
        crate::staff_admin::patch(&app, &cashier_path, &baker, json!({"location_id": "SH001"}))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for role in ["head_office_admin", "merchant_admin"] {
        let (status, body) =
            crate::staff_admin::patch(&app, &cashier_path, &baker, json!({"role": role})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
    }
    assert_eq!(staff_rows().await, before, "refused calls changed nothing");

    // Its own staff it administers: rename, move between its stores, promote, reset, PIN.
    let (status, body) = crate::staff_admin::patch(
        &app,
        &cashier_path,
        &baker,
        json!({"display_name": "面包收银员", "location_id": "MB-002", "role": "store_manager"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["location_id"], &body["role"], &body["display_name"]),
        (
            &json!("MB-002"),
            &json!("store_manager"),
            &json!("面包收银员")
        )
    );
    let (status, _) = app.get("/api/v1/auth/me", Some(&cashier_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "moving ends its sessions");
    let (status, body) = app
        .post(
            &format!("/api/v1/staff/{manager}/password"),
            Some(&baker),
            json!({"password": "copper lantern meadow 77"}),
        )
        .await;
    assert_eq!(
        (status, &body["must_change_password"]),
        (StatusCode::OK, &json!(true)),
        "{body}"
    );
    let (status, body) = app
        .delete(&format!("{cashier_path}/pin"), Some(&baker))
        .await;
    assert_eq!(
        (status, &body["has_pin"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );

    // Head office staffs a merchant's store as any other; the merchant then sees that account.
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&admin),
            person(Uuid::now_v7(), "cashier2.mb001", "cashier", "MB-001"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, mine) = app.get("/api/v1/staff", Some(&baker)).await;
    assert_eq!(
        usernames(&mine),
        ["cashier.mb001", "cashier2.mb001", "mgr.mb001"]
    );

    // Each change is audited as the merchant administrator's.
    let (status, entries) = app
        .get(&format!("/api/v1/audit?entity_id={cashier}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    let mut done: Vec<(String, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    done.sort();
    let by_baker = |action: &str| (action.to_owned(), "staff:ma.baker".to_owned());
    assert_eq!(
        done,
        [
            by_baker("staff.create"),
            by_baker("staff.pin_clear"),
            by_baker("staff.pin_set"),
            by_baker("staff.update"),
        ]
    );

    // Suspended, the merchant still sees its staff and can disable an account, but neither
    // adds, changes, enables nor gives credentials to any.
    let (status, body) = app
        .put(
            "/api/v1/merchants/m-baker/review",
            Some(&admin),
            json!({"decision": "suspend", "note": "证照过期"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = staff_rows().await;
    let manager_path = format!("/api/v1/staff/{manager}");
    let refused = [
        app.post(
            "/api/v1/staff",
            Some(&baker),
            person(Uuid::now_v7(), "cashier3.mb001", "cashier", "MB-001"),
        )
        .await,
        crate::staff_admin::patch(&app, &manager_path, &baker, json!({"display_name": "新名"}))
            .await,
        app.post(
            &format!("{manager_path}/password"),
            Some(&baker),
            json!({"password": "copper lantern meadow 78"}),
        )
        .await,
        app.put(
            &format!("{manager_path}/pin"),
            Some(&baker),
            json!({"pin": "480315"}),
        )
        .await,
    ];
    for (status, body) in &refused {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "merchant_not_approved", "{body}");
    }
    assert_eq!(staff_rows().await, before, "refused calls changed nothing");
    let (status, mine) = app.get("/api/v1/staff", Some(&baker)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let (status, body) =
        crate::staff_admin::patch(&app, &manager_path, &baker, json!({"active": false})).await;
    assert_eq!(
        (status, &body["active"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );
    let (status, body) =
        crate::staff_admin::patch(&app, &manager_path, &baker, json!({"active": true})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
crate::both_backends!(
    a_merchant_staffs_its_own_stores,
    a_merchant_staffs_its_own_stores
);
