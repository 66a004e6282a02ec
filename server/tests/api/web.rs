//! The shop's and console's pages over plain HTTP on both backends: sessions and CSRF, search,
//! phone log-in, cart and checkout, the console's listings, CSV export and import, member point
//! adjustment, scan-and-go, and error pages that never show internal text.

use std::collections::HashMap;

use reqwest::StatusCode;

use crate::both_backends;
use crate::support::TestApp;

/// A cookie-keeping client that does not follow redirects.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Self {
            base: app.url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, resp: reqwest::Response) -> Page {
        for value in resp.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = resp.text().await.unwrap();
        Page {
            status,
            location,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    async fn csrf(&mut self) -> String {
        let page = self.get("/").await;
        between(&page.body, "name=\"csrf\" content=\"", "\"").to_owned()
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    async fn post_csrf(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let token = self.csrf().await;
        let mut all = vec![("_csrf", token.as_str())];
        all.extend_from_slice(form);
        self.post(path, &all).await
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in page"))
        + start.len();
    let rest = &text[from..];
    &rest[..rest.find(end).unwrap()]
}

async fn shopper(app: &TestApp, phone: &str) -> Browser {
    let mut b = Browser::new(app);
    let page = b.post_csrf("/login/code", &[("phone", phone)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let code = between(&page.body, "id=\"sms-code\">", "<").to_owned();
    assert_eq!(code.len(), 6);
    // A wrong code is refused next to the field.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let page = b
        .post_csrf(
            "/login",
            &[("phone", phone), ("code", wrong), ("back", "/me")],
        )
        .await;
    assert!(
        page.body.contains("data-field=\"code\""),
        "wrong code shown"
    );
    let page = b
        .post_csrf(
            "/login",
            &[("phone", phone), ("code", &code), ("back", "/me")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/me"));
    b
}

async fn console(app: &TestApp, user: &str) -> Browser {
    let mut b = Browser::new(app);
    let page = b
        .post_csrf(
            "/console/login",
            &[
                ("username", user),
                ("password", "demo1234"),
                ("back", "/console"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{user} logs in");
    assert!(b.cookies.contains_key("console"));
    b
}

async fn a_sku(app: &TestApp, text: &str) -> (uuid::Uuid, uuid::Uuid) {
    let page = retail_server::storage::catalog::list_products(
        &app.state.store,
        &retail_server::storage::catalog::ProductFilter {
            q: Some(text.into()),
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let product = retail_server::storage::catalog::product(&app.state.store, page.items[0].id)
        .await
        .unwrap()
        .unwrap();
    (product.id, product.skus[0].id)
}

async fn shop_pages_and_checkout(app: TestApp) {
    let mut anon = Browser::new(&app);
    let home = anon.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("鲜邻超市"));
    assert!(anon.cookies.contains_key("sid"), "every browser gets a sid");
    // English on request.
    anon.get("/lang/en?back=/").await;
    assert!(anon.get("/").await.body.contains("Best sellers"));

    // Search in Chinese (substring of the name), filters, suggestions, bad filter input.
    let page = anon.get("/search?q=纯牛奶&sort=price_asc").await;
    assert!(page.body.contains("纯牛奶"), "search finds it");
    let suggest: Vec<String> =
        serde_json::from_str(&anon.get("/search/suggest?q=牛奶").await.body).unwrap();
    assert!(!suggest.is_empty());
    let page = anon.get("/search?q=牛奶&min=abc").await;
    assert!(
        page.body.contains("data-field=\"min\""),
        "error next to the field"
    );

    // No CSRF token: refused with a page, nothing changes.
    let (product, sku) = a_sku(&app, "纯牛奶").await;
    let sku_text = sku.to_string();
    let page = anon
        .post("/cart/add", &[("sku", &sku_text), ("qty", "1")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.body.to_lowercase().contains("internal"));
    // Unknown pages are an HTML error page, the API keeps its JSON.
    let page = anon.get("/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("<html"));
    let (status, body) = app.get("/api/v1/no-such", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    // Product page shows per-store pickup availability.
    let page = anon.get(&format!("/p/{product}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("今天可自提") || page.body.contains("Pick up today"));

    // A member logs in by phone, fills the cart and orders for pickup.
    let mut b = shopper(&app, "13800138003").await;
    let page = b
        .post_csrf(
            "/cart/add",
            &[("sku", &sku_text), ("qty", "2"), ("back", "/cart")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(b.get("/cart").await.body.contains("纯牛奶"));
    // Delivery without an address: messages next to the fields.
    let id = retail_domain::ids::new_id().to_string();
    let page = b
        .post_csrf(
            "/checkout",
            &[
                ("id", &id),
                ("mode", "delivery"),
                ("name", ""),
                ("phone", "12"),
                ("address", ""),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    for f in ["name", "phone", "address"] {
        assert!(
            page.body.contains(&format!("data-field=\"{f}\"")),
            "{f} error"
        );
    }
    let page = b
        .post_csrf(
            "/checkout",
            &[("id", &id), ("mode", "pickup"), ("store", "SH001")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let order_path = page.location.unwrap();
    let order_id: uuid::Uuid = order_path.trim_start_matches("/orders/").parse().unwrap();
    let order = retail_server::storage::orders::get(&app.state.store, order_id)
        .await
        .unwrap();
    assert_eq!(order.location_id, "SH001");
    assert_eq!(order.lines[0].qty, 2);
    assert!(
        b.get("/cart").await.body.contains("购物车是空的"),
        "ordered lines leave the cart"
    );
    let list = b.get("/orders?tab=pending").await;
    assert!(list.body.contains(&order.order_no));
    // Another shopper cannot see it.
    let mut other = shopper(&app, "13800138004").await;
    assert_eq!(other.get(&order_path).await.status, StatusCode::NOT_FOUND);
    // Pay: the shop sends the shopper to the provider.
    let page = b.post_csrf(&format!("{order_path}/pay"), &[]).await;
    assert!(page.location.unwrap().starts_with("/sandbox/pay/"));

    // The member centre with its refreshing member code.
    let me = b.get("/me").await;
    assert!(me.body.contains("data-refresh=\"/me/code\""));
    let code: serde_json::Value = serde_json::from_str(&b.get("/me/code").await.body).unwrap();
    assert!(code["code"].as_str().unwrap().starts_with("MC1"));
    assert!(code["svg"].as_str().unwrap().starts_with("<svg"));

    // The console: the manager sees the order, exports it, and marks it ready once paid.
    let mut mgr = console(&app, "mgr.sh001").await;
    assert_eq!(mgr.get("/console").await.status, StatusCode::OK);
    let page = mgr.get("/console/orders?status=pending_payment").await;
    assert!(page.body.contains(&order.order_no));
    let csv = mgr.get("/console/orders.csv").await;
    assert!(csv.body.contains(&order.order_no));
    // Another store's manager may not see it.
    let mut other_mgr = console(&app, "mgr.sh002").await;
    assert_eq!(
        other_mgr
            .get(&format!("/console/orders/{order_id}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let page = mgr
        .post_csrf(
            &format!("/console/orders/{order_id}/cancel"),
            &[("reason", "test")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let order = retail_server::storage::orders::get(&app.state.store, order_id)
        .await
        .unwrap();
    assert_eq!(order.status.as_str(), "cancelled");
    // A stock count and a transfer from the stock page.
    let sku_record = retail_server::storage::catalog::sku(&app.state.store, sku, None)
        .await
        .unwrap()
        .unwrap();
    let barcode = sku_record.barcodes[0].clone();
    let count_id = retail_domain::ids::new_id().to_string();
    let page = mgr
        .post_csrf(
            "/console/stock/count",
            &[
                ("id", &count_id),
                ("location", "SH001"),
                ("code", &barcode),
                ("qty", "37"),
                ("reason", "test"),
            ],
        )
        .await;
    assert!(page.location.unwrap().contains("done=count"));
    let level = retail_server::storage::stock::get_level(&app.state.store, "SH001", sku)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(level.on_hand, 37);
    let page = mgr
        .post_csrf(
            "/console/stock/count",
            &[
                ("id", &count_id),
                ("location", "SH001"),
                ("code", &barcode),
                ("qty", "-1"),
            ],
        )
        .await;
    assert!(page.location.unwrap().contains("error=qty"));
    let page = mgr
        .post_csrf(
            "/console/stock/count",
            &[
                ("id", &retail_domain::ids::new_id().to_string()),
                ("location", "SH002"),
                ("code", &barcode),
                ("qty", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "another store's stock");
    let page = mgr
        .post_csrf(
            "/console/stock/transfers",
            &[
                ("id", &retail_domain::ids::new_id().to_string()),
                ("location", "SH001"),
                ("to", "SH002"),
                ("code", &barcode),
                ("qty", "2"),
            ],
        )
        .await;
    assert!(page.location.unwrap().contains("done=transfer"));
    let level = retail_server::storage::stock::get_level(&app.state.store, "SH001", sku)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(level.on_hand, 35);
    // Stock and movements pages answer.
    assert_eq!(
        mgr.get("/console/stock?alerts=1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        mgr.get(&format!("/console/stock/movements?sku={sku}"))
            .await
            .status,
        StatusCode::OK
    );
}
both_backends!(shop_pages_and_checkout, shop_pages_and_checkout);

async fn console_admin_pages(app: TestApp) {
    let mut admin = console(&app, "admin").await;
    for page in [
        "/console",
        "/console/catalog?q=牛奶",
        "/console/stores",
        "/console/staff",
        "/console/audit",
        "/console/devices",
        "/console/catalog/import",
    ] {
        assert_eq!(admin.get(page).await.status, StatusCode::OK, "{page}");
    }
    // Prices from the product page: validated next to the SKU, then saved (audited).
    let (product, sku) = a_sku(&app, "纯牛奶").await;
    assert_eq!(
        admin
            .get(&format!("/console/catalog/products/{product}"))
            .await
            .status,
        StatusCode::OK
    );
    let page = admin
        .post_csrf(
            &format!("/console/catalog/skus/{sku}/price"),
            &[("price", "abc"), ("member_price", "")],
        )
        .await;
    assert!(page.body.contains("field-error"));
    let page = admin
        .post_csrf(
            &format!("/console/catalog/skus/{sku}/price"),
            &[("price", "9.90"), ("member_price", "9.50")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let record = retail_server::storage::catalog::sku(&app.state.store, sku, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.price.fen(), 990);
    let page = admin
        .post_csrf(
            &format!("/console/catalog/skus/{sku}/store-price"),
            &[("store", "SH003"), ("price", "8.80")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let prices = retail_server::storage::catalog::sku_prices(&app.state.store, "SH003", &[sku])
        .await
        .unwrap();
    assert_eq!(prices[&sku].price_fen, 880);
    let export = admin.get("/console/catalog.csv").await;
    assert!(export.body.contains("product_code,name_zh"));

    // Import: all or nothing, errors by line.
    let cats = retail_server::storage::catalog::categories(&app.state.store)
        .await
        .unwrap();
    let leaf = cats
        .iter()
        .find(|c| !cats.iter().any(|o| o.parent_id.as_ref() == Some(&c.id)))
        .unwrap()
        .id
        .clone();
    let header = "product_code,name_zh,name_en,brand,category_id,sku_code,spec_zh,spec_en,unit,price,member_price,barcodes";
    let file = format!(
        "{header}\nAPIT1,接口测试,API test,测试,{leaf},APIT1-1,1个,1 pc,个,abc,,6901234567892\nAPIT2,接口测试二,API test 2,测试,NOPE,APIT2-1,1个,1 pc,个,2.00,,6901234567915\n"
    );
    let token = admin.csrf().await;
    let boundary = "XBOUNDARYX";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let resp = admin
        .http
        .post(format!("{}/console/catalog/import", admin.base))
        .header("cookie", admin.cookie_header())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let page = admin.finish(resp).await;
    assert!(
        page.body.contains("data-line=\"2\""),
        "line 2 (price) reported"
    );
    assert!(
        page.body.contains("data-line=\"3\""),
        "line 3 (category) reported"
    );
    let taken = retail_server::storage::catalog::taken_codes(
        &app.state.store,
        &["APIT1".into(), "APIT2".into()],
        &[],
        &[],
    )
    .await
    .unwrap();
    assert!(taken.is_empty(), "nothing imported");
    // Without the CSRF token the upload is refused.
    let resp = admin
        .http
        .post(format!("{}/console/catalog/import", admin.base))
        .header("cookie", admin.cookie_header())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body.replace(&token, "forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A good file imports in one transaction.
    let good = file
        .replace(",abc,", ",3.00,")
        .replace(",NOPE,", &format!(",{leaf},"));
    let body = body.replace(&file, &good);
    let resp = admin
        .http
        .post(format!("{}/console/catalog/import", admin.base))
        .header("cookie", admin.cookie_header())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let page = admin.finish(resp).await;
    assert!(page.body.contains("id=\"import-ok\""), "{}", page.body);
    let taken = retail_server::storage::catalog::taken_codes(
        &app.state.store,
        &["APIT1".into(), "APIT2".into()],
        &[],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(taken.len(), 2);

    // Members: look-up by phone, audited manual adjustment with validation.
    let page = admin.get("/console/members?phone=13800138001").await;
    let member_path = page.location.expect("redirect to the member");
    let page = admin
        .post_csrf(
            &format!("{member_path}/points"),
            &[
                ("id", &retail_domain::ids::new_id().to_string()),
                ("delta", "0"),
                ("reason", ""),
            ],
        )
        .await;
    assert!(page.body.contains("data-field=\"delta\""));
    assert!(page.body.contains("data-field=\"reason\""));
    let page = admin
        .post_csrf(
            &format!("{member_path}/points"),
            &[
                ("id", &retail_domain::ids::new_id().to_string()),
                ("delta", "50"),
                ("reason", "goodwill"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let audit = retail_server::storage::audit::list(&app.state.store, None, 20)
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "points.adjust"));

    // Devices: the credential is shown once.
    let id = retail_domain::ids::new_id().to_string();
    let page = admin
        .post_csrf(
            "/console/devices",
            &[
                ("id", &id),
                ("location", "SH001"),
                ("kind", "pos"),
                ("name", "Lane 9"),
            ],
        )
        .await;
    let credential = between(&page.body, "id=\"credential\"", "</pre>")
        .split('>')
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(credential.starts_with("dv_"), "{credential}");
    let page = admin
        .post_csrf(
            "/console/devices",
            &[
                ("id", &id),
                ("location", "SH001"),
                ("kind", "pos"),
                ("name", "Lane 9"),
            ],
        )
        .await;
    assert!(
        !page.body.contains("id=\"credential\""),
        "never shown again"
    );
    let (status, me) = app.get("/api/v1/devices/me", Some(&credential)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let page = admin
        .post_csrf(&format!("/console/devices/{id}/revoke"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let (status, _) = app.get("/api/v1/devices/me", Some(&credential)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A cashier is kept out of head-office pages.
    let mut cashier = console(&app, "cashier1.sh001").await;
    for page in [
        "/console/catalog",
        "/console/audit",
        "/console/staff",
        "/console/members",
    ] {
        assert_eq!(
            cashier.get(page).await.status,
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }
    // Logged out: back to the log-in page.
    cashier.post_csrf("/console/logout", &[]).await;
    let page = cashier.get("/console").await;
    assert!(page.location.unwrap().starts_with("/console/login"));
}
both_backends!(console_admin_pages, console_admin_pages);

async fn scan_and_go_over_http(app: TestApp) {
    let mut b = shopper(&app, "13800138005").await;
    let page = b
        .post_csrf("/scan/start", &[("store_code", "ST1.NOPE")])
        .await;
    assert_eq!(page.location.as_deref(), Some("/scan?error=store"));
    let page = b.post_csrf("/scan/start", &[("store", "SH003")]).await;
    assert_eq!(page.location.as_deref(), Some("/scan"));
    let (_, sku) = a_sku(&app, "纯牛奶").await;
    let sku = retail_server::storage::catalog::sku(&app.state.store, sku, None)
        .await
        .unwrap()
        .unwrap();
    let page = b
        .post_csrf("/scan/add", &[("code", &sku.barcodes[0])])
        .await;
    assert_eq!(page.location.as_deref(), Some("/scan"));
    let page = b.get("/scan").await;
    assert!(page.body.contains("id=\"scan-total\""));
    let page = b.post_csrf("/scan/pay", &[]).await;
    let pay = page.location.unwrap();
    assert!(pay.starts_with("/sandbox/pay/"));
    // The provider confirms (signed notification over HTTP).
    let resp = b
        .http
        .post(format!("{}{pay}", b.base))
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("支付成功"));
    let page = b.get("/scan/pass").await;
    assert_eq!(page.status, StatusCode::OK);
    let code = between(&page.body, "data-code-text>", "<").to_owned();
    assert!(code.starts_with("EX1"));
}
both_backends!(scan_and_go_over_http, scan_and_go_over_http);

/// Head office creates a 满减 in the console (same validation as the API: a bad one shows its
/// error and stores nothing), checkout quotes apply it, and ending it takes it away; a cashier
/// cannot open the page and a store manager can read it without the forms.
async fn console_promotions(app: TestApp) {
    let mut admin = console(&app, "admin").await;
    let page = admin.get("/console/promotions").await;
    assert_eq!(page.status, StatusCode::OK);
    let id = retail_domain::ids::new_id().to_string();
    // Contradictory: the reduction is not below the threshold.
    let page = admin
        .post_csrf(
            "/console/promotions",
            &[
                ("id", id.as_str()),
                ("name", "坏满减"),
                ("kind", "full_reduction"),
                ("threshold", "50"),
                ("reduction", "80"),
                ("days", "7"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-error=\"promotion\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<td>坏满减</td>"));
    let page = admin
        .post_csrf(
            "/console/promotions",
            &[
                ("id", id.as_str()),
                ("name", "满50减8"),
                ("kind", "full_reduction"),
                ("threshold", "50"),
                ("reduction", "8"),
                ("days", "7"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = admin.get("/console/promotions").await;
    assert!(page.body.contains("<td>满50减8</td>"), "{}", page.body);
    let (_, api) = app
        .get("/api/v1/promotions", Some(&app.login("admin").await))
        .await;
    let promotion = api.as_array().unwrap()[0]["promotion"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(promotion, id);

    let mut cashier = console(&app, "cashier1.sh001").await;
    assert_eq!(
        cashier.get("/console/promotions").await.status,
        StatusCode::FORBIDDEN
    );
    let mut manager = console(&app, "mgr.sh001").await;
    let page = manager.get("/console/promotions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("满50减8") && !page.body.contains("action=\"/console/promotions\""));

    let page = admin
        .post_csrf(&format!("/console/promotions/{id}/end"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = admin.get("/console/promotions").await;
    assert!(!page.body.contains("满50减8"));
}
crate::both_backends!(console_promotions, console_promotions);
