//! End-to-end tests of the shop and the console in a real headless Chromium, driven over
//! WebDriver (chromedriver, started by the test on a free port). SQLite only.
//!
//! Scenarios: a shopper searches in Chinese, orders for pickup and pays at the sandbox
//! provider; the store manager marks the order ready in the console; a catalog CSV import with
//! one bad line reports that line and imports nothing; a cashier cannot open head-office pages;
//! a shopper opens a paper receipt's e-receipt and claims its points; a store manager approves
//! one refund and rejects another in the refund approval queue; a shopper recharges stored value
//! and pays a scan-and-go basket with it; a shopper inside WeChat's browser pays by JSAPI after
//! WeChat's authorisation (WeixinJSBridge stubbed by the test); a shopper's "use my location"
//! button gives a saved address the phone's position (geolocation granted and emulated over the
//! DevTools protocol, chromedriver's `chromium/send_command`).
//! Screenshots (360 px phone and desktop) go to the test's temp dir and to `/tmp/web-shots/`.
//!
//! Outside CI the tests are skipped, loudly, when Chromium or chromedriver is missing; under
//! `CI=true` they must run (`.ci/run` installs Debian's `chromium` and `chromium-driver`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use retail_domain::order::OrderStatus;
use serde_json::json;

use crate::support::{Backend, TestApp};

use retail_testkit::chromedriver::{Chromedriver, CHROMIUM};

/// One browser test at a time: each starts one or two Chromium instances, and the two cores
/// are shared with the rest of the suite.
static BROWSER_SLOT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// A chromedriver process, killed on drop; holds the browser slot while it lives.
pub(crate) struct Driver {
    chromedriver: Chromedriver,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

pub(crate) fn browser_available() -> bool {
    retail_testkit::chromedriver::browser_available()
}

pub(crate) async fn start_driver() -> Driver {
    let slot = BROWSER_SLOT
        .acquire()
        .await
        .expect("the browser slot is never closed");
    Driver {
        chromedriver: Chromedriver::start().await,
        _slot: slot,
    }
}

/// A browser session: a 360 px phone (mobile emulation) or a 1280 px desktop.
pub(crate) async fn browser(driver: &Driver, phone: bool) -> Client {
    browser_as(driver, phone, None).await
}

/// [`browser`] saying it is `agent` (`User-Agent`, e.g. WeChat's browser) when given.
pub(crate) async fn browser_as(driver: &Driver, phone: bool, agent: Option<&str>) -> Client {
    let mut options = json!({
        "binary": CHROMIUM,
        // Background networking, component updates and sync off: this machine's network is
        // closed, and Chromium's own connection attempts otherwise slow every page down.
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--window-size=1280,900", "--lang=zh-CN"],
    });
    if phone {
        options["mobileEmulation"] = json!({
            "deviceMetrics": {"width": 360, "height": 780, "pixelRatio": 1.0},
            "userAgent": agent.unwrap_or("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile Safari/537.36")
        });
    } else if let Some(agent) = agent {
        if let Some(args) = options["args"].as_array_mut() {
            args.push(json!(format!("--user-agent={agent}")));
        }
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.chromedriver.url)
        .await
        .expect("WebDriver session")
}

pub(crate) struct Shots {
    dir: PathBuf,
}

impl Shots {
    pub(crate) fn new(dir: &Path) -> Self {
        let dir = dir.join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::create_dir_all("/tmp/web-shots");
        Self { dir }
    }

    pub(crate) async fn take(&self, client: &Client, name: &str) {
        let png = client.screenshot().await.expect("screenshot");
        assert!(
            png.starts_with(&[0x89, b'P', b'N', b'G']),
            "a PNG screenshot"
        );
        std::fs::write(self.dir.join(format!("{name}.png")), &png).unwrap();
        let _ = std::fs::write(format!("/tmp/web-shots/{name}.png"), &png);
    }
}

/// Runs `act` on the element `css` once it is there, retried for a while: a script may replace
/// the element (a re-priced page, a suggestion list) between finding it and acting on it.
pub(crate) async fn on_element<T, F, Fut>(client: &Client, css: &str, what: &str, act: F) -> T
where
    F: Fn(fantoccini::elements::Element) -> Fut,
    Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
{
    let mut last = String::new();
    for _ in 0..50 {
        match client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => match act(el).await {
                Ok(done) => return done,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} {css}: {last}");
}

/// Waits (up to 90 s) until the element `css` reads `needle`: after a click the page before
/// the navigation may still be showing.
pub(crate) async fn wait_for_text(client: &Client, css: &str, needle: &str) {
    let mut last = String::new();
    for _ in 0..900 {
        if let Ok(el) = client.find(Locator::Css(css)).await {
            if let Ok(text) = el.text().await {
                if text.contains(needle) {
                    return;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never read {needle:?}; last read {last:?}");
}

pub(crate) async fn text_of(client: &Client, css: &str) -> String {
    on_element(client, css, "read", |el| async move { el.text().await }).await
}

/// The `value` of the form field `css`.
async fn value_of(client: &Client, css: &str) -> Option<String> {
    on_element(client, css, "read the value of", |el| async move {
        el.prop("value").await
    })
    .await
}

/// Clicks the element `css` once it is there, retried for a while (see [`on_element`]). A click
/// that navigates can be answered an error by the driver on a busy machine (it gave up waiting
/// for the new page) although the click was made: once the page has moved on, it is not retried
/// (the retry would find no element and wait for it in vain).
pub(crate) async fn click(client: &Client, css: &str) {
    let before = client.current_url().await.ok();
    let mut last = String::new();
    for _ in 0..50 {
        match client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => {
                // Into the middle of the screen: the shop's tab bar is fixed at the bottom and
                // would take a click meant for an element the driver scrolled just above it.
                if let Ok(arg) = serde_json::to_value(&el) {
                    let _ = client
                        .execute(
                            "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});",
                            vec![arg],
                        )
                        .await;
                }
                match el.click().await {
                    Ok(()) => return,
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        if let (Some(before), Ok(now)) = (&before, client.current_url().await) {
            if *before != now {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("click {css}: {last}");
}

/// Clicks `css`, which navigates (a form's submit button, a link), and waits (up to 90 s) for
/// the next page to have loaded. The page before is marked first, so a click whose navigation
/// has not begun yet (a busy machine) is not taken for having arrived: a path check alone can
/// match the page before (a log-in's `back=/`), and the late navigation then replaces whatever
/// the test opened next.
pub(crate) async fn click_to_next_page(client: &Client, css: &str) {
    client
        .execute("window.__left_behind = true;", vec![])
        .await
        .expect("mark the page");
    click(client, css).await;
    for _ in 0..900 {
        let arrived = client
            .execute(
                "return window.__left_behind !== true && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(arrived, Ok(serde_json::Value::Bool(true))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "click {css}: no next page, still at {}",
        client.current_url().await.unwrap()
    );
}

pub(crate) async fn type_into(client: &Client, css: &str, text: &str) {
    on_element(client, css, "type into", |el| async move {
        el.clear().await?;
        el.send_keys(text).await
    })
    .await
}

/// Opens the console's import page and submits the CSV file at `path`.
async fn submit_import(desk: &Client, app: &TestApp, path: &Path) {
    desk.goto(&format!("{}/console/catalog/import", app.url))
        .await
        .unwrap();
    on_element(desk, "#file", "choose a file in", |el| async move {
        el.send_keys(path.to_str().unwrap_or_default()).await
    })
    .await;
    click(desk, "#import-submit").await;
}

pub(crate) async fn wait_path(client: &Client, prefix: &str) -> String {
    // Up to 90 s: the two cores are shared with the rest of the suite, and under its load a
    // page behind a redirect chain (provider round trips) can take tens of seconds.
    for _ in 0..900 {
        let url = client.current_url().await.unwrap();
        if url.path().starts_with(prefix) {
            return url.path().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never reached {prefix}, at {}",
        client.current_url().await.unwrap()
    );
}

pub(crate) async fn console_login(client: &Client, app: &TestApp, user: &str) {
    console_login_with(client, app, user, "demo1234").await;
}

async fn console_login_with(client: &Client, app: &TestApp, user: &str, password: &str) {
    client.goto(&format!("{}/console", app.url)).await.unwrap();
    wait_path(client, "/console/login").await;
    type_into(client, "#username", user).await;
    type_into(client, "#password", password).await;
    // "/console/login" starts with "/console" too: wait for the form's answer, a new page.
    click_to_next_page(client, "form button[type=submit]").await;
    let path = client.current_url().await.unwrap().path().to_owned();
    assert!(path.starts_with("/console"), "{user} is in the console");
    assert_ne!(path, "/console/login", "{user} logged in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopper_orders_for_pickup_and_the_manager_marks_it_ready() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;

    // Home, then a Chinese search with suggestions as the shopper types.
    phone.goto(&format!("{}/", app.url)).await.unwrap();
    shots.take(&phone, "shop-home-360").await;
    type_into(&phone, "#q", "纯牛奶").await;
    let suggestion = text_of(&phone, "#suggest a").await;
    assert!(suggestion.contains("纯牛奶"), "suggestion {suggestion}");
    shots.take(&phone, "shop-suggest-360").await;
    phone
        .find(Locator::Css("#q"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    wait_path(&phone, "/search").await;
    let names = text_of(&phone, ".grid").await;
    assert!(names.contains("伊利纯牛奶"), "results: {names}");
    shots.take(&phone, "shop-search-360").await;

    // The product page: pick-up availability from real stock, then into the cart.
    phone
        .find(Locator::XPath(
            "//a[contains(@class,'tile')][.//span[text()='伊利纯牛奶']]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&phone, "/p/").await;
    let page = phone.source().await.unwrap();
    assert!(page.contains("今天可自提"), "availability shown");
    shots.take(&phone, "shop-product-360").await;
    click(&phone, "form[action='/cart/add'] button").await;
    wait_path(&phone, "/p/").await;
    text_of(&phone, ".notice.ok").await;

    // Checkout asks for a log-in by phone (sandbox SMS code), then comes back.
    phone.goto(&format!("{}/checkout", app.url)).await.unwrap();
    wait_path(&phone, "/login").await;
    type_into(&phone, "#phone", "13800138001").await;
    click(&phone, "form[action='/login/code'] button").await;
    let code = text_of(&phone, "#sms-code").await;
    type_into(&phone, "#code", &code).await;
    click(&phone, "#consent").await;
    click(&phone, "form[action='/login'] button").await;
    wait_path(&phone, "/checkout").await;
    phone
        .find(Locator::Css("#store option[value='SH001']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Choosing another store re-prices the page for that store.
    for _ in 0..300 {
        let url = phone.current_url().await.unwrap();
        if url.query().is_some_and(|q| q.contains("store=SH001")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(value_of(&phone, "#store").await.as_deref(), Some("SH001"));
    shots.take(&phone, "shop-checkout-360").await;
    click(&phone, "#checkout-form button.block").await;
    let order_path = wait_path(&phone, "/orders/").await;
    let order_id: uuid::Uuid = order_path
        .trim_start_matches("/orders/")
        .parse()
        .expect("order id in the URL");

    // Pay at the sandbox provider, return to the shop: paid, with the pickup QR.
    click(&phone, "form[action$='/pay'] button").await;
    wait_path(&phone, "/sandbox/pay/").await;
    click(&phone, "form button").await;
    click(&phone, "#return").await;
    wait_path(&phone, "/orders/").await;
    let status = text_of(&phone, ".card .status").await;
    assert_eq!(status, "已付款");
    assert!(phone.find(Locator::Css(".qr svg")).await.is_ok());
    shots.take(&phone, "shop-order-paid-360").await;
    let order = retail_server::storage::orders::get(&app.state.store, order_id)
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.location_id, "SH001");
    assert!(order.member_id.is_some(), "the order belongs to the member");

    // The store manager marks it ready in the console (desktop).
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "mgr.sh001").await;
    shots.take(&desk, "console-dashboard-desktop").await;
    desk.goto(&format!("{}/console/orders/{order_id}", app.url))
        .await
        .unwrap();
    click(&desk, "#mark-ready").await;
    // The order page before the form's answer may still be showing (a loaded machine).
    wait_for_text(&desk, "#order-status", "待自提").await;
    shots.take(&desk, "console-order-ready-desktop").await;
    let order = retail_server::storage::orders::get(&app.state.store, order_id)
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::ReadyForPickup);

    // The shopper sees it ready.
    phone.refresh().await.unwrap();
    assert_eq!(text_of(&phone, ".card .status").await, "待自提");
    shots.take(&phone, "shop-order-ready-360").await;

    // The member centre with its member code.
    phone.goto(&format!("{}/me", app.url)).await.unwrap();
    assert!(phone.find(Locator::Css(".qr svg")).await.is_ok());
    shots.take(&phone, "shop-member-360").await;

    phone.close().await.unwrap();
    desk.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_import_with_a_bad_line_imports_nothing_and_cashiers_stay_out() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let desk = browser(&driver, false).await;
    let leaf = leaf_category(&app).await;

    console_login(&desk, &app, "admin").await;
    let header = "product_code,name_zh,name_en,brand,category_id,sku_code,spec_zh,spec_en,unit,price,member_price,barcodes";
    // Line 3 has a barcode with a wrong check digit.
    let bad = format!(
        "{header}\nWEBT1,测试酸奶,Test yogurt,测试,{leaf},WEBT1-1,200g,200g,盒,6.50,6.00,6901234567939\n\
         WEBT1,测试酸奶,Test yogurt,测试,{leaf},WEBT1-2,400g,400g,盒,12.00,,6901234567891\n\
         WEBT2,测试面包,Test bread,测试,{leaf},WEBT2-1,1个,1 pc,个,3.50,,6901234567908\n"
    );
    let bad_path = temp.path().join("bad.csv");
    std::fs::write(&bad_path, bad).unwrap();
    submit_import(&desk, &app, &bad_path).await;
    let errors = text_of(&desk, "#import-errors").await;
    assert!(errors.contains("第 3 行"), "{errors}");
    assert!(errors.contains("barcodes"), "{errors}");
    let lines = desk
        .find_all(Locator::Css("#import-errors li"))
        .await
        .unwrap();
    assert_eq!(lines.len(), 1, "exactly the one bad line: {errors}");
    shots.take(&desk, "console-import-error-desktop").await;
    for code in ["WEBT1", "WEBT2"] {
        let page = retail_server::storage::catalog::list_products(
            &app.state.store,
            &retail_server::storage::catalog::ProductFilter {
                q: Some(code.into()),
                limit: 10,
                include_off_shelf: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(page.items.is_empty(), "{code} must not be imported");
    }

    // The corrected file imports both products.
    let good_path = temp.path().join("good.csv");
    std::fs::write(
        &good_path,
        std::fs::read_to_string(&bad_path)
            .unwrap()
            .replace("6901234567891", "6901234567915"),
    )
    .unwrap();
    submit_import(&desk, &app, &good_path).await;
    let ok = text_of(&desk, "#import-ok").await;
    assert!(ok.contains('2'), "{ok}");
    // And the shop finds the new product by its Chinese name.
    desk.goto(&format!("{}/search?q=测试酸奶", app.url))
        .await
        .unwrap();
    assert!(text_of(&desk, ".grid").await.contains("测试酸奶"));
    shots.take(&desk, "shop-search-desktop").await;
    desk.close().await.unwrap();

    // A cashier logs in but cannot open head-office pages.
    let cashier = browser(&driver, false).await;
    console_login(&cashier, &app, "cashier1.sh001").await;
    for page in [
        "/console/catalog/import",
        "/console/catalog",
        "/console/stores",
        "/console/staff",
        "/console/audit",
    ] {
        cashier.goto(&format!("{}{page}", app.url)).await.unwrap();
        let body = text_of(&cashier, "body").await;
        assert!(body.contains("403"), "{page}: {body}");
        assert!(body.contains("无权"), "{page}: {body}");
        assert!(cashier.find(Locator::Css("#file")).await.is_err());
    }
    shots
        .take(&cashier, "console-cashier-forbidden-desktop")
        .await;
    cashier.close().await.unwrap();
}

pub(crate) async fn shopper_login(phone: &Client, app: &TestApp, number: &str, back: &str) {
    phone
        .goto(&format!("{}/login?back={back}", app.url))
        .await
        .unwrap();
    type_into(phone, "#phone", number).await;
    click(phone, "form[action='/login/code'] button").await;
    let code = text_of(phone, "#sms-code").await;
    type_into(phone, "#code", &code).await;
    click(phone, "#consent").await;
    click_to_next_page(phone, "form[action='/login'] button").await;
    let path = phone.current_url().await.unwrap().path().to_owned();
    assert!(
        path != "/login" && path.starts_with(back),
        "{number} logged in and back at {back}, at {path}"
    );
}

/// A category without children.
async fn leaf_category(app: &TestApp) -> String {
    let categories = retail_server::storage::catalog::categories(&app.state.store)
        .await
        .unwrap();
    categories
        .iter()
        .find(|c| {
            !categories
                .iter()
                .any(|o| o.parent_id.as_ref() == Some(&c.id))
        })
        .unwrap()
        .id
        .clone()
}

/// The demo's 伊利纯牛奶 product.
pub(crate) async fn milk(app: &TestApp) -> uuid::Uuid {
    retail_server::storage::catalog::list_products(
        &app.state.store,
        &retail_server::storage::catalog::ProductFilter {
            q: Some("纯牛奶".into()),
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .items[0]
        .id
}

/// The barcode of something `store` has in stock, sold by the unit.
async fn stocked_barcode(app: &TestApp, store: &str) -> String {
    let levels = levels_at(app, store).await;
    let mut barcode = None;
    for level in levels.iter().filter(|l| l.available > 5) {
        let sku = retail_server::storage::catalog::sku(&app.state.store, level.sku_id, None)
            .await
            .unwrap()
            .unwrap();
        if !sku.weighed {
            if let Some(b) = sku.barcodes.first() {
                barcode = Some(b.clone());
                break;
            }
        }
    }
    barcode.expect("a stocked SKU with a barcode")
}

/// The first 50 stock levels of a location.
async fn levels_at(
    app: &TestApp,
    location: &str,
) -> Vec<retail_server::storage::stock::StockLevel> {
    retail_server::storage::stock::list_levels(
        &app.state.store,
        &retail_server::storage::stock::LevelFilter {
            location_id: Some(location.into()),
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_and_go_pays_and_shows_a_signed_exit_pass() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let barcode = stocked_barcode(&app, "SH002").await;

    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138002", "/scan").await;
    shots.take(&phone, "scan-start-360").await;
    type_into(&phone, "#store_code", "ST1.SH002").await;
    click(&phone, "form[action='/scan/start'] button[type=submit]").await;
    for _ in 0..2 {
        type_into(&phone, "#code", &barcode).await;
        click(&phone, "#scan-form button").await;
        wait_path(&phone, "/scan").await;
    }
    // A code that is no product is refused with a message.
    type_into(&phone, "#code", "0000000").await;
    click(&phone, "#scan-form button").await;
    assert!(text_of(&phone, ".notice.err").await.contains("没有找到"));
    assert_eq!(
        value_of(&phone, "input[name=qty]").await.as_deref(),
        Some("2")
    );
    shots.take(&phone, "scan-basket-360").await;
    click(&phone, "form[action='/scan/pay'] button").await;
    wait_path(&phone, "/sandbox/pay/").await;
    click(&phone, "form button").await;
    click(&phone, "#return").await;
    wait_path(&phone, "/orders/").await;
    click(&phone, "#show-exit-pass").await;
    wait_path(&phone, "/scan/pass").await;
    text_of(&phone, "#exit-pass").await;
    shots.take(&phone, "scan-exit-pass-360").await;
    let code = phone
        .execute(
            "return document.querySelector('[data-code-text]').textContent",
            vec![],
        )
        .await
        .unwrap();
    let code = code.as_str().unwrap().to_owned();
    match app
        .state
        .keys
        .verifier()
        .verify(&code, chrono::Utc::now())
        .expect("a valid signed exit pass")
    {
        retail_domain::codes::SignedCode::ExitPass(pass) => {
            assert_eq!(pass.store, "SH002");
            assert_eq!(pass.item_count, 2);
            assert!(pass.total.fen() > 0);
        }
        other => panic!("not an exit pass: {other:?}"),
    }
    phone.close().await.unwrap();
}

async fn total_of(client: &Client) -> String {
    client
        .execute(
            "var t=document.querySelector('[data-total]');return t?t.getAttribute('data-total'):''",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the checkout total differs from `before` (the page re-priced itself).
async fn total_changes(client: &Client, before: &str) -> String {
    for _ in 0..300 {
        let now = total_of(client).await;
        if !now.is_empty() && now != before {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the total stayed {before}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_creates_a_coupon_a_member_claims_it_and_checks_out_with_points() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;

    // Head office: a 无门槛 ¥3 coupon for the coupon centre, 5 in stock.
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    desk.goto(&format!("{}/console/coupons", app.url))
        .await
        .unwrap();
    type_into(&desk, "#name", "无门槛3元券").await;
    desk.find(Locator::Css("#kind option[value='no_threshold']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    desk.find(Locator::Css("#issue_on option[value='claim']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    type_into(&desk, "#amount", "3").await;
    type_into(&desk, "#stock_total", "5").await;
    click(&desk, "#new-coupon button[type=submit]").await;
    let row = text_of(&desk, "#templates tr[data-template]").await;
    assert!(
        row.contains("无门槛3元券") && row.contains("0 / 5"),
        "{row}"
    );
    shots.take(&desk, "console-coupons-desktop").await;

    // The member claims it in the coupon centre.
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138005", "/coupons").await;
    click(&phone, "form[action$='/claim'] button").await;
    text_of(&phone, ".notice.ok").await;
    assert!(text_of(&phone, ".left").await.contains('4'));
    shots.take(&phone, "shop-coupon-centre-360").await;
    phone
        .goto(&format!("{}/me/coupons", app.url))
        .await
        .unwrap();
    assert!(text_of(&phone, "#usable").await.contains("无门槛3元券"));
    shots.take(&phone, "shop-my-coupons-360").await;

    // Checkout: choosing the coupon and points re-prices the order with the engine.
    let product = milk(&app).await;
    phone
        .goto(&format!("{}/p/{product}", app.url))
        .await
        .unwrap();
    type_into(&phone, "form[action='/cart/add'] input[name=qty]", "10").await;
    click(&phone, "form[action='/cart/add'] button").await;
    text_of(&phone, ".notice.ok").await;
    phone
        .goto(&format!("{}/checkout?mode=pickup&store=SH001", app.url))
        .await
        .unwrap();
    let plain = total_of(&phone).await;
    phone
        .find(Locator::Css("#coupon option:nth-child(2)"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let with_coupon = total_changes(&phone, &plain).await;
    assert!(text_of(&phone, "#explanation")
        .await
        .contains("无门槛3元券"));
    type_into(&phone, "#points", "100\u{E007}").await;
    let with_points = total_changes(&phone, &with_coupon).await;
    assert!(text_of(&phone, "#points-used").await.contains("100"));
    let fen = |t: &str| t.parse::<retail_domain::money::Money>().unwrap().fen();
    assert_eq!(fen(&with_coupon), fen(&plain) - 300);
    assert_eq!(fen(&with_points), fen(&with_coupon) - 100);
    shots.take(&phone, "shop-checkout-coupon-points-360").await;
    click(&phone, "#checkout-form button.block").await;
    let order_path = wait_path(&phone, "/orders/").await;
    let order_id: uuid::Uuid = order_path.trim_start_matches("/orders/").parse().unwrap();
    let order = retail_server::storage::orders::get(&app.state.store, order_id)
        .await
        .unwrap();
    assert_eq!(order.total.fen(), fen(&with_points));
    phone
        .goto(&format!("{}/me/coupons", app.url))
        .await
        .unwrap();
    assert!(text_of(&phone, "#spent").await.contains("已使用"));
    phone.close().await.unwrap();
    desk.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_ships_delivers_and_refunds_after_delivery() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    // A paid delivery order (placed and paid through the API and the sandbox provider).
    let levels = levels_at(&app, "WH01").await;
    let level = levels
        .iter()
        .find(|l| l.available > 5)
        .expect("stock at WH01");
    let body = json!({"id": retail_domain::ids::new_id(), "fulfilment": "delivery",
        "address": {"name": "李四", "phone": "13800138010", "address": "杭州市西湖区文三路 100 号"},
        "lines": [{"sku_id": level.sku_id, "qty": 2}]});
    let (_, order) = app.post("/api/v1/orders", None, body).await;
    let order_id: uuid::Uuid = order["id"].as_str().unwrap().parse().unwrap();
    let (_, intent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            json!({"id": retail_domain::ids::new_id()}),
        )
        .await;
    let pay_url = intent["pay_url"].as_str().unwrap().to_owned();
    app.client.post(&pay_url).send().await.unwrap();

    let driver = start_driver().await;
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    desk.goto(&format!("{}/console/orders/{order_id}", app.url))
        .await
        .unwrap();
    click(&desk, "#ship").await;
    text_of(&desk, "#deliver").await;
    assert_eq!(text_of(&desk, "#order-status").await, "已发货");
    click(&desk, "#deliver").await;
    text_of(&desk, "#after-sale").await;
    assert_eq!(text_of(&desk, "#order-status").await, "已送达");
    type_into(&desk, "#after-sale input[name=qty_1]", "1").await;
    type_into(&desk, "#after-sale input[name=reason]", "包装破损").await;
    click(&desk, "#refund").await;
    // The page before the click may show a notice of its own: wait for the refund's.
    wait_for_text(&desk, ".notice.ok", "售后退款已登记").await;
    assert!(text_of(&desk, ".returned").await.contains('1'));
    shots.take(&desk, "console-order-after-sale-desktop").await;
    let view = retail_server::storage::orders::get(&app.state.store, order_id)
        .await
        .unwrap();
    assert_eq!(view.status, OrderStatus::Delivered, "one of two units back");
    assert_eq!(view.lines[0].returned_qty, 1);
    desk.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_edits_barcodes_and_the_category_of_a_product() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let product = milk(&app).await;
    let driver = start_driver().await;
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    desk.goto(&format!("{}/console/catalog/products/{product}", app.url))
        .await
        .unwrap();
    // A wrong check digit is refused next to the SKU's barcodes.
    let good = retail_domain::barcode::ean13_from_body("699123450001").unwrap();
    let last = good.as_bytes()[12] - b'0';
    let bad = format!("{}{}", &good[..12], (last + 1) % 10);
    type_into(&desk, ".add-barcode input[name=code]", &bad).await;
    click(&desk, ".add-barcode button").await;
    assert!(text_of(&desk, "[data-error=barcode]")
        .await
        .contains("校验位"));
    type_into(&desk, ".add-barcode input[name=code]", &good).await;
    click(&desk, ".add-barcode button").await;
    text_of(&desk, ".notice.ok").await;
    assert!(text_of(&desk, ".barcodes").await.contains(&good));
    // Another category.
    let current = text_of(&desk, "#category").await;
    let target = retail_server::storage::catalog::categories(&app.state.store)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id != current)
        .unwrap()
        .id;
    desk.find(Locator::Css(&format!(
        "#category_id option[value='{target}']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    click(&desk, "#category-form button").await;
    text_of(&desk, ".notice.ok").await;
    assert_eq!(text_of(&desk, "#category").await, target);
    shots.take(&desk, "console-product-edit-desktop").await;
    let sku = retail_server::storage::catalog::sku_by_barcode(&app.state.store, &good, None)
        .await
        .unwrap()
        .expect("the new barcode finds the SKU");
    assert_eq!(sku.category_id, target);
    desk.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_csv_import_runs_in_the_background_with_progress() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let leaf = leaf_category(&app).await;
    const N: usize = 1500;
    let mut good = String::from("product_code,name_zh,name_en,brand,category_id,sku_code,spec_zh,spec_en,unit,price,member_price,barcodes\n");
    for i in 0..N {
        let code = retail_domain::barcode::ean13_from_body(&format!("699{i:09}")).unwrap();
        good.push_str(&format!(
            "BULK{i},批量商品{i},Bulk item {i},测试,{leaf},BULK{i}-1,1个,1 pc,个,{}.00,,{code}\n",
            1 + i % 50
        ));
    }
    // The same file with its very last line broken: nothing of it is imported.
    let broken = format!("{good}BULKX,坏行,Bad,测试,{leaf},BULKX-1,1个,1 pc,个,-1,,123\n");
    let good_path = temp.path().join("bulk.csv");
    let broken_path = temp.path().join("bulk-broken.csv");
    std::fs::write(&good_path, &good).unwrap();
    std::fs::write(&broken_path, &broken).unwrap();
    let driver = start_driver().await;
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    let count = || async {
        retail_server::storage::catalog::taken_codes(
            &app.state.store,
            &(0..N).map(|i| format!("BULK{i}")).collect::<Vec<_>>(),
            &[],
            &[],
        )
        .await
        .unwrap()
        .len()
    };

    for (path, name) in [(&broken_path, "broken"), (&good_path, "good")] {
        submit_import(&desk, &app, path).await;
        // The upload answers with the job's page, which shows progress until it is done.
        let job = wait_path(&desk, "/console/catalog/import/").await;
        assert!(job.len() > "/console/catalog/import/".len());
        if desk.find(Locator::Css("#import-progress")).await.is_ok() {
            shots
                .take(&desk, &format!("console-import-progress-{name}-desktop"))
                .await;
        }
        if name == "broken" {
            let errors = text_of(&desk, "#import-errors").await;
            assert!(errors.contains(&format!("第 {} 行", N + 2)), "{errors}");
            assert_eq!(count().await, 0, "nothing of a broken file");
        } else {
            let ok = text_of(&desk, "#import-ok").await;
            assert!(ok.contains(&N.to_string()), "{ok}");
            shots.take(&desk, "console-import-done-desktop").await;
            assert_eq!(count().await, N);
        }
    }
    desk.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_opens_a_receipt_and_claims_its_points() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let (_, lane, skus) = crate::receipts::setup(&app, 2).await;
    let sale = crate::sales::sale(
        "SH001",
        None,
        &[(&skus[0], 2, 1_990), (&skus[1], 1, 3_500)],
        &[],
    );
    crate::receipts::sold(&app, &lane, &sale).await;
    let code = lane.code(&sale);

    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138008", "/me").await;
    click(&phone, "#receipt-link").await;
    wait_path(&phone, "/receipt").await;
    // Pasted (the camera fills the same field where the browser has BarcodeDetector).
    type_into(&phone, "#receipt-code", &code).await;
    click(&phone, "#receipt-form button").await;
    let receipt = text_of(&phone, "#e-receipt").await;
    assert!(receipt.contains("¥74.80"), "{receipt}");
    assert!(receipt.contains("现金"), "{receipt}");
    let points = text_of(&phone, "#claim-points").await;
    shots.take(&phone, "receipt-360").await;
    click(&phone, "#claim-form button").await;
    assert!(text_of(&phone, "#claim-notice")
        .await
        .contains("积分已到账"));
    assert!(text_of(&phone, "#claim-state").await.contains(&points));
    shots.take(&phone, "receipt-claimed-360").await;
    // A forged code is refused in words.
    let mut forged = code.into_bytes();
    let at = forged.len() - 20;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    type_into(
        &phone,
        "#receipt-code",
        std::str::from_utf8(&forged).unwrap(),
    )
    .await;
    click(&phone, "#receipt-form button").await;
    assert!(text_of(&phone, "#receipt-error").await.contains("伪造"));
    phone.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_creates_a_cashier_who_must_choose_a_password() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    desk.goto(&format!("{}/console/staff", app.url))
        .await
        .unwrap();
    // A common password is refused next to its field, and nothing is created.
    type_into(&desk, "#username", "zhao.lei").await;
    type_into(&desk, "#display_name", "赵磊").await;
    click(&desk, "#location option[value=SH001]").await;
    type_into(&desk, "#password", "password123").await;
    click(&desk, "#new-staff button[type=submit]").await;
    let error = text_of(&desk, "[data-field=password]").await;
    assert!(!error.is_empty(), "the password rule is shown");
    assert!(!text_of(&desk, "#staff").await.contains("zhao.lei"));
    // With a good one the account is created (the form kept the name; the password is retyped).
    type_into(&desk, "#password", "harbour violet stepping 58").await;
    click(&desk, "#new-staff button[type=submit]").await;
    wait_path(&desk, "/console/staff/").await;
    shots.take(&desk, "console-staff-created-desktop").await;
    desk.goto(&format!("{}/console/staff", app.url))
        .await
        .unwrap();
    let list = text_of(&desk, "#staff").await;
    assert!(list.contains("zhao.lei") && list.contains("赵磊"), "{list}");
    desk.close().await.unwrap();

    // The cashier logs in and is sent to choose a password before anything else.
    let till = browser(&driver, false).await;
    console_login_with(&till, &app, "zhao.lei", "harbour violet stepping 58").await;
    wait_path(&till, "/console/password").await;
    till.goto(&format!("{}/console/orders", app.url))
        .await
        .unwrap();
    wait_path(&till, "/console/password").await;
    type_into(&till, "#old_password", "harbour violet stepping 58").await;
    type_into(&till, "#password", "lemon grove mosaic 19").await;
    type_into(&till, "#confirm", "lemon grove mosaic 19").await;
    click(&till, "#change-password button[type=submit]").await;
    wait_for_text(&till, ".notice.ok", "密码已修改").await;
    shots.take(&till, "console-password-changed-desktop").await;
    till.goto(&format!("{}/console/orders", app.url))
        .await
        .unwrap();
    wait_path(&till, "/console/orders").await;
    till.close().await.unwrap();
}

/// Privacy (PIPL) on a phone: a new shopper signs up ticking the privacy policy, finds the data
/// download and the account deletion in the member centre, confirms the deletion by typing it,
/// and the phone number is no longer a member's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_signs_up_with_consent_and_deletes_the_account() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    let number = "13900009031";
    shopper_login(&phone, &app, number, "/me").await;
    let member = retail_server::storage::members::by_phone(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        number,
    )
    .await
    .unwrap()
    .expect("signed up");
    assert!(text_of(&phone, "#my-data").await.contains("下载"));
    click(&phone, "#delete-account").await;
    wait_path(&phone, "/me/delete").await;
    shots.take(&phone, "privacy-delete-360").await;
    type_into(&phone, "#confirm", "注销").await;
    click(&phone, "#delete-form button").await;
    assert!(text_of(&phone, "#account-deleted").await.contains("已注销"));
    let gone = retail_server::storage::members::by_phone(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        number,
    )
    .await
    .unwrap();
    assert!(
        gone.is_none(),
        "the phone no longer finds member {}",
        member.id
    );
    phone.close().await.unwrap();
}

/// The shopper of `phone` logs in, puts the demo's milk in the cart and orders it for pickup at
/// SH001: answers the order page's path.
pub(crate) async fn milk_for_pickup(client: &Client, app: &TestApp, phone: &str) -> String {
    shopper_login(client, app, phone, "/").await;
    let product = milk(app).await;
    client
        .goto(&format!("{}/p/{product}", app.url))
        .await
        .unwrap();
    click(client, "form[action='/cart/add'] button").await;
    text_of(client, ".notice.ok").await;
    client
        .goto(&format!("{}/checkout?mode=pickup&store=SH001", app.url))
        .await
        .unwrap();
    click(client, "#checkout-form button.block").await;
    wait_path(client, "/orders/").await
}

/// A shopper at a desktop pays a pickup order by WeChat Pay: the order page offers WeChat Pay,
/// Alipay (the configured providers) and the demo sandbox; choosing WeChat Pay shows its QR
/// code; once WeChat Pay notifies the payment, the page goes back to the paid order with its
/// pickup code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_pays_an_order_by_scanning_a_wechat_pay_qr() {
    if !browser_available() {
        return;
    }
    let wechat = retail_testkit::wechat_pay::FakeWechatPay::start();
    let alipay = retail_testkit::alipay::FakeAlipay::start();
    let keys = tempfile::tempdir().unwrap();
    let (w, a) = (
        retail_testkit::payments::wechat_settings(&wechat, keys.path()),
        retail_testkit::payments::alipay_settings(&alipay, keys.path()),
    );
    let app = TestApp::spawn_with(Backend::Sqlite, move |s| {
        s.payments.wechat = w;
        s.payments.alipay = a;
    })
    .await
    .expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let desk = browser(&driver, false).await;

    let order_path = milk_for_pickup(&desk, &app, "13800138009").await;
    let buttons = text_of(&desk, "form[action$='/pay']").await;
    assert!(
        buttons.contains("微信支付") && buttons.contains("支付宝") && buttons.contains("沙箱"),
        "{buttons}"
    );
    shots.take(&desk, "shop-order-pay-choices-desktop").await;

    click(&desk, "form[action$='/pay'] button[value='wechat_pay']").await;
    let pay_path = wait_path(&desk, &format!("{order_path}/pay/")).await;
    let code = on_element(&desk, "[data-pay-code]", "read", |el| async move {
        el.attr("data-pay-code").await
    })
    .await
    .unwrap_or_default();
    assert!(code.starts_with("weixin://wxpay/"), "{code}");
    assert!(desk.find(Locator::Css(".qr svg")).await.is_ok());
    assert!(text_of(&desk, ".card").await.contains("微信支付"));
    shots.take(&desk, "shop-wechat-qr-desktop").await;

    // The shopper scans and pays; WeChat Pay notifies; the page finds the order paid.
    let payment: uuid::Uuid = pay_path.rsplit('/').next().unwrap().parse().unwrap();
    let sent = wechat.pay(&payment.simple().to_string()).await.unwrap();
    assert_eq!(sent.answer, Some(204));
    wait_for_text(&desk, ".card .status", "已付款").await;
    assert_eq!(desk.current_url().await.unwrap().path(), order_path);
    assert!(desk.find(Locator::Css("[data-pickup-code]")).await.is_ok());
    shots.take(&desk, "shop-order-paid-by-wechat-desktop").await;
    desk.close().await.unwrap();
}

/// Stored value as a shopper sees it: recharge a package (the demo sandbox pays it), the balance
/// shown with its bonus apart, a payment PIN set, then a scan-and-go basket paid with the
/// balance and its exit pass shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_recharges_and_pays_scan_and_go_with_the_balance() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let barcode = stocked_barcode(&app, "SH002").await;

    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138077", "/me/balance").await;
    // The demo's first package (充100送10) is chosen; the sandbox pays it.
    assert!(text_of(&phone, "#recharge").await.contains("充100送10"));
    click(&phone, "#recharge button[value=sandbox]").await;
    wait_path(&phone, "/sandbox/pay/").await;
    click(&phone, "form button").await;
    click(&phone, "#return").await;
    wait_path(&phone, "/me/balance").await;
    wait_for_text(&phone, "#balance-total", "¥110.00").await;
    assert_eq!(text_of(&phone, "#balance-bonus").await, "¥10.00");
    assert_eq!(text_of(&phone, "#balance-principal").await, "¥100.00");
    shots.take(&phone, "balance-recharged-360").await;

    // A payment PIN.
    click(&phone, "#pay-pin-link").await;
    wait_path(&phone, "/me/pay-pin").await;
    type_into(&phone, "#pin", "258036").await;
    type_into(&phone, "#pin_again", "258036").await;
    click(&phone, "#save-pin").await;
    wait_for_text(&phone, "#pin-set", "支付密码已设置").await;

    // Scan-and-go, paid with the balance.
    phone.goto(&format!("{}/scan", app.url)).await.unwrap();
    type_into(&phone, "#store_code", "ST1.SH002").await;
    click(&phone, "form[action='/scan/start'] button[type=submit]").await;
    type_into(&phone, "#code", &barcode).await;
    click(&phone, "#scan-form button").await;
    wait_path(&phone, "/scan").await;
    click(&phone, "#scan-pay-balance").await;
    wait_path(&phone, "/orders/").await;
    // A wrong PIN is refused on the page and takes nothing.
    type_into(&phone, "#pin", "000001").await;
    click(&phone, "#pay-balance").await;
    wait_for_text(&phone, "#pay-error", "支付密码错误").await;
    shots.take(&phone, "balance-wrong-pin-360").await;
    type_into(&phone, "#pin", "258036").await;
    click(&phone, "#pay-balance").await;
    click(&phone, "#show-exit-pass").await;
    wait_path(&phone, "/scan/pass").await;
    text_of(&phone, "#exit-pass").await;
    phone
        .goto(&format!("{}/me/balance", app.url))
        .await
        .unwrap();
    let left = text_of(&phone, "#balance-total").await;
    assert_ne!(left, "¥110.00", "the basket was paid from the balance");
    assert_eq!(
        text_of(&phone, "#balance-bonus").await,
        "¥10.00",
        "bonus is spent last"
    );
    shots.take(&phone, "balance-after-scan-and-go-360").await;
    phone.close().await.unwrap();
}

/// A store manager approves one refund and rejects another in the console's approval queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_manager_approves_one_refund_and_rejects_another() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let (order_a, _, fen_a) = crate::refund_approvals::paid_order(&app, "SH001").await;
    let (order_b, _, fen_b) = crate::refund_approvals::paid_order(&app, "SH001").await;
    let a = crate::refund_approvals::refund_awaiting_approval(&app, order_a, fen_a).await;
    let b = crate::refund_approvals::refund_awaiting_approval(&app, order_b, fen_b).await;
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let desk = browser(&driver, false).await;

    // The manager's menu leads to the queue; the tab counts the two refunds.
    console_login(&desk, &app, "mgr.sh001").await;
    click(&desk, "nav.side a[href='/console/payments/approvals']").await;
    wait_path(&desk, "/console/payments/approvals").await;
    wait_for_text(&desk, "#approvals-waiting", "2").await;
    let row = text_of(&desk, &format!("#refund-{a}")).await;
    assert!(
        row.contains("SH001") && row.contains("退货退款") && row.contains("cashier1.sh001"),
        "{row}"
    );
    shots.take(&desk, "console-refund-approvals-desktop").await;

    // Approve A: the page says so, A leaves the queue, the tab counts one.
    click(&desk, &format!("#refund-{a} button.approve")).await;
    wait_for_text(&desk, "#approval-done", "已批准").await;
    wait_for_text(&desk, "#approvals-waiting", "1").await;
    assert!(desk
        .find(Locator::Css(&format!("#refund-{a}")))
        .await
        .is_err());

    // Reject B without a reason: told a reason is needed, B still waits.
    click(&desk, &format!("#refund-{b} button.reject")).await;
    wait_for_text(&desk, "#approval-error", "驳回需要原因").await;
    assert!(desk
        .find(Locator::Css(&format!("#refund-{b}")))
        .await
        .is_ok());
    // With a reason from the list and a note: rejected, the queue is empty.
    click(
        &desk,
        &format!("#refund-{b} select[name=preset] option[value=goods_not_back]"),
    )
    .await;
    type_into(
        &desk,
        &format!("#refund-{b} input[name=note]"),
        "顾客未带回商品",
    )
    .await;
    click(&desk, &format!("#refund-{b} button.reject")).await;
    wait_for_text(&desk, "#approval-done", "已驳回").await;
    text_of(&desk, "#no-approvals").await;
    assert!(desk.find(Locator::Css("#approvals-waiting")).await.is_err());
    shots
        .take(&desk, "console-refund-approvals-done-desktop")
        .await;

    // The API agrees.
    let admin = app.login("admin").await;
    let state_of = |order: uuid::Uuid, id: uuid::Uuid| {
        let (app, admin) = (&app, &admin);
        async move {
            let (_, list) = app
                .get(&format!("/api/v1/orders/{order}/refunds"), Some(admin))
                .await;
            list.as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id.to_string())
                .cloned()
                .unwrap()
        }
    };
    let approved = state_of(order_a, a).await;
    assert_eq!(approved["approved_by"], "staff:mgr.sh001", "{approved}");
    let rejected = state_of(order_b, b).await;
    assert_eq!(rejected["state"], "closed");
    assert_eq!(
        rejected["rejected_reason"],
        "商品未退回 goods not returned: 顾客未带回商品"
    );
    desk.close().await.unwrap();
}

/// A shopper inside WeChat's browser pays a pickup order by WeChat Pay in place: the pay button
/// goes through WeChat's authorisation (the fake sends the browser straight back, as
/// `snsapi_base` does) to the JSAPI page, which opens WeChat's payment sheet once WeChat's bridge
/// is ready (the test stands in for WeixinJSBridge and records what it was handed); cancelled,
/// the page says so and offers to pay again; paid, it waits for WeChat Pay's notification and
/// goes back to the paid order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_in_wechat_pays_an_order_in_place() {
    if !browser_available() {
        return;
    }
    let wechat = retail_testkit::wechat_pay::FakeWechatPay::start();
    let keys = tempfile::tempdir().unwrap();
    let w = retail_testkit::payments::wechat_settings(&wechat, keys.path());
    let app = TestApp::spawn_with(Backend::Sqlite, move |s| s.payments.wechat = w)
        .await
        .expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let phone = browser_as(&driver, true, Some(crate::wechat_in_app::WECHAT_AGENT)).await;

    let order_path = milk_for_pickup(&phone, &app, "13800138066").await;

    // Pay: WeChat's authorisation and back, to the JSAPI page waiting for WeChat's bridge.
    click(&phone, "form[action$='/pay'] button[value='wechat_pay']").await;
    let pay_path = wait_path(&phone, "/pay/wechat/").await;
    wait_for_text(&phone, "#wechat-pay-status", "正在打开微信支付").await;
    assert_eq!(wechat.oauth_exchanges(), 1);
    let payment: uuid::Uuid = pay_path.rsplit('/').next().unwrap().parse().unwrap();
    let trade = wechat.trade(&payment.simple().to_string()).unwrap();
    assert_eq!(trade.openid, Some(wechat.oauth_openid()));
    shots.take(&phone, "shop-wechat-jsapi-phone").await;

    // WeChat's bridge becomes ready; the shopper cancels the payment sheet.
    phone
        .execute(
            "window.__wx = {calls: [], answer: 'get_brand_wcpay_request:cancel'};
             window.WeixinJSBridge = {invoke: function (name, params, done) {
                 window.__wx.calls.push([name, params]);
                 done({err_msg: window.__wx.answer});
             }};
             document.dispatchEvent(new Event('WeixinJSBridgeReady'));",
            vec![],
        )
        .await
        .unwrap();
    wait_for_text(&phone, "#wechat-pay-status", "支付已取消").await;
    let calls = phone
        .execute("return window.__wx.calls;", vec![])
        .await
        .unwrap();
    assert_eq!(calls[0][0], "getBrandWCPayRequest", "{calls}");
    assert_eq!(
        wechat.check_request_payment(&calls[0][1]),
        Ok(payment.simple().to_string()),
        "the sheet got parameters WeChat's client accepts"
    );
    shots
        .take(&phone, "shop-wechat-jsapi-cancelled-phone")
        .await;

    // Again, and paid: the page waits for WeChat Pay's word, then shows the paid order.
    phone
        .execute("window.__wx.answer = 'get_brand_wcpay_request:ok';", vec![])
        .await
        .unwrap();
    // Clicked by the page's own script, after this command has returned: the click navigates
    // (WeChat said paid) to a page that refreshes itself, and a WebDriver click that waits for
    // that navigation can fail on a busy machine although the click was made — and its retry
    // then finds no button.
    wait_for_text(&phone, "#wechat-pay-again", "重新支付").await;
    phone
        .execute(
            "setTimeout(function () { document.getElementById('wechat-pay-again').click(); }, 0);",
            vec![],
        )
        .await
        .unwrap();
    wait_path(&phone, &format!("{order_path}/pay/{payment}/done")).await;
    wait_for_text(&phone, "#pay-confirming", "正在确认支付结果").await;
    let sent = wechat.pay(&payment.simple().to_string()).await.unwrap();
    assert_eq!(sent.answer, Some(204));
    wait_for_text(&phone, ".card .status", "已付款").await;
    assert_eq!(phone.current_url().await.unwrap().path(), order_path);
    assert!(phone.find(Locator::Css("[data-pickup-code]")).await.is_ok());
    shots.take(&phone, "shop-order-paid-in-wechat-phone").await;
    phone.close().await.unwrap();
}

/// A shopper asks for a return of a collected pickup order from its page (a unit, a reason from
/// the list, a description, a photo) and follows it; the store manager finds it in the console's
/// after-sale queue, approves it, and records the goods received (the refund goes out); the
/// shopper sees the refund on the timeline and rates the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_returns_an_item_and_the_manager_approves_it() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    let path = milk_for_pickup(&phone, &app, "13700160001").await;
    let order_id: uuid::Uuid = path.trim_start_matches("/orders/").parse().unwrap();
    // Paid at the sandbox provider, made ready and collected at the counter.
    crate::bus::pay(&app, &order_id.to_string()).await;
    for to in [OrderStatus::ReadyForPickup, OrderStatus::PickedUp] {
        retail_server::app::orders::change_status(
            &app.state.store,
            order_id,
            to,
            "mgr.sh001",
            "test",
        )
        .await
        .unwrap();
    }

    // The request from the order's page.
    phone.goto(&format!("{}{path}", app.url)).await.unwrap();
    click(&phone, "#ask-after-sale").await;
    wait_path(&phone, &format!("/orders/{order_id}/after-sale")).await;
    type_into(&phone, "input[name=qty_1]", "1").await;
    click(&phone, "#reason option[value=damaged]").await;
    type_into(&phone, "#description", "盒子压坏了，牛奶漏了").await;
    let photo = temp.path().join("damaged.jpg");
    std::fs::write(&photo, crate::media::jpeg(800, 600)).unwrap();
    let photo_path = photo.to_str().unwrap().to_owned();
    on_element(&phone, "#photos", "attach a photo to", |el| {
        let photo_path = photo_path.clone();
        async move { el.send_keys(&photo_path).await }
    })
    .await;
    shots.take(&phone, "shop-after-sale-request-phone").await;
    click(&phone, "#submit-after-sale").await;
    let case_path = wait_path(&phone, "/after-sales/").await;
    wait_for_text(&phone, "#after-sale-status", "待审核").await;
    shots.take(&phone, "shop-after-sale-requested-phone").await;
    // Asking again for the same unit is refused, clearly, and nothing changes.
    phone
        .goto(&format!("{}/orders/{order_id}/after-sale", app.url))
        .await
        .unwrap();
    type_into(&phone, "input[name=qty_1]", "1").await;
    click(&phone, "#submit-after-sale").await;
    wait_for_text(&phone, "#after-sale-error", "已有进行中的售后").await;

    // The store manager approves it and records the goods received.
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "mgr.sh001").await;
    click(&desk, "nav.side a[href='/console/after-sales']").await;
    wait_path(&desk, "/console/after-sales").await;
    let case_id = case_path.trim_start_matches("/after-sales/");
    let row = text_of(&desk, &format!("#case-{case_id}")).await;
    assert!(
        row.contains("退货退款") && row.contains("商品破损"),
        "{row}"
    );
    shots.take(&desk, "console-after-sales-queue-desktop").await;
    click(&desk, &format!("#case-{case_id} a")).await;
    text_of(&desk, "#case-description").await;
    assert!(
        desk.find(Locator::Css("#case-photos img.case-photo"))
            .await
            .is_ok(),
        "the photo is shown"
    );
    click(&desk, "#approve-after-sale").await;
    wait_for_text(&desk, "#case-status", "已同意").await;
    shots
        .take(&desk, "console-after-sale-approved-desktop")
        .await;
    click(&desk, "#inspection option[value=resaleable]").await;
    click(&desk, "#receive-after-sale").await;
    wait_for_text(&desk, "#case-status", "已退款").await;
    shots
        .take(&desk, "console-after-sale-refunded-desktop")
        .await;

    // The shopper sees the refund and the timeline, and rates the service.
    phone
        .goto(&format!("{}{case_path}", app.url))
        .await
        .unwrap();
    wait_for_text(&phone, "#after-sale-status", "已退款").await;
    let timeline = text_of(&phone, "#after-sale-timeline").await;
    assert!(
        timeline.contains("商家已同意") && timeline.contains("退款已原路退回"),
        "{timeline}"
    );
    click(&phone, "#rating option[value='5']").await;
    click(&phone, "#rating-form button").await;
    wait_for_text(&phone, "#after-sale-rating", "5/5").await;
    shots.take(&phone, "shop-after-sale-refunded-phone").await;
    let case = retail_server::storage::after_sales::get(&app.state.store, case_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case.decided_by.as_deref(), Some("staff:mgr.sh001"));
    assert_eq!(case.rating, Some(5));
    assert!(case.refunded.fen() > 0);
    phone.close().await.unwrap();
    desk.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_creates_a_product_with_an_image_and_the_shop_shows_its_thumbnail() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let leaf = leaf_category(&app).await;
    let photo = temp.path().join("photo.jpg");
    std::fs::write(&photo, crate::media::jpeg(1200, 900)).unwrap();
    let driver = start_driver().await;
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;

    desk.goto(&format!("{}/console/catalog", app.url))
        .await
        .unwrap();
    click(&desk, "#new-product-link").await;
    wait_path(&desk, "/console/catalog/products/new").await;
    type_into(&desk, "#code", "IMGT1").await;
    type_into(&desk, "#name_zh", "测试蜂蜜").await;
    type_into(&desk, "#name_en", "Test honey").await;
    type_into(&desk, "#brand", "测试蜂场").await;
    desk.find(Locator::Css(&format!(
        "#category_id option[value='{leaf}']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    type_into(&desk, "#description", "百花蜜 **纯天然**").await;
    type_into(&desk, "#sku_code", "IMGT1-1").await;
    type_into(&desk, "#spec_zh", "500g").await;
    type_into(&desk, "#unit", "瓶").await;
    type_into(&desk, "#price", "39.90").await;
    let barcode = retail_domain::barcode::ean13_from_body("699123459901").unwrap();
    type_into(&desk, "#barcode", &barcode).await;
    click(&desk, "#new-product button[type=submit]").await;
    text_of(&desk, ".notice.ok").await;
    let path = wait_path(&desk, "/console/catalog/products/0").await;
    let product: uuid::Uuid = path.rsplit('/').next().unwrap().parse().unwrap();

    // The image: a non-image first (refused on the page, nothing kept), then the photo.
    let text_file = temp.path().join("notes.jpg");
    std::fs::write(&text_file, "not a photo").unwrap();
    for (file, ok) in [(&text_file, false), (&photo, true)] {
        on_element(
            &desk,
            "#images input[type=file]",
            "choose a file in",
            |el| async move { el.send_keys(file.to_str().unwrap_or_default()).await },
        )
        .await;
        click(&desk, "#images button.btn").await;
        if ok {
            text_of(&desk, ".notice.ok").await;
        } else {
            wait_for_text(&desk, "#images .field-error", "JPEG").await;
            assert!(crate::media::media_files(&app).is_empty());
        }
    }
    let thumb = on_element(&desk, "#images img", "read", |el| async move {
        el.attr("src").await
    })
    .await
    .expect("the thumbnail has a src");
    assert!(thumb.starts_with("/media/"), "{thumb}");
    shots.take(&desk, "console-product-image-desktop").await;
    let images = retail_server::storage::product_images::list(&app.state.store, product)
        .await
        .unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].image.full.width, 1200);

    // The shop: the search list and the product page show the thumbnail, sized and lazy.
    let phone = browser(&driver, true).await;
    phone
        .goto(&format!("{}/search?q=测试蜂蜜", app.url))
        .await
        .unwrap();
    let tile_img = format!("a.tile[href='/p/{product}'] img");
    let (src, loading, width) = on_element(&phone, &tile_img, "read", |el| async move {
        Ok((
            el.attr("src").await?,
            el.attr("loading").await?,
            el.attr("width").await?,
        ))
    })
    .await;
    let src = src.expect("src");
    assert_eq!(loading.as_deref(), Some("lazy"));
    assert_eq!(width.as_deref(), Some("160"));
    assert!(
        images[0].image.variants().any(|v| v.url() == src),
        "{src} is one of the kept variants"
    );
    let natural: i64 = phone
        .execute(
            &format!(
                "const i = document.querySelector(\"{tile_img}\"); i.scrollIntoView(); \
                 return new Promise(r => {{ if (i.complete && i.naturalWidth) r(i.naturalWidth); \
                 else i.onload = () => r(i.naturalWidth); }});"
            ),
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(natural >= 160, "the thumbnail loaded ({natural} px wide)");
    shots.take(&phone, "shop-search-image-360").await;
    phone
        .goto(&format!("{}/p/{product}", app.url))
        .await
        .unwrap();
    assert!(text_of(&phone, ".description b").await.contains("纯天然"));
    on_element(&phone, ".gallery img", "read", |el| async move {
        el.attr("src").await
    })
    .await
    .expect("the product page shows the image");
    shots.take(&phone, "shop-product-image-360").await;
    phone.close().await.unwrap();
    desk.close().await.unwrap();
}

/// Delivery (issue 16): a shopper saves an address in the member centre (listed masked) and
/// checks out for delivery to it; head office opens the paid order's delivery page (the full
/// address), ships it with a carrier and waybill, prints its label and adds a tracking event;
/// the shopper's order page shows the waybill and the tracking timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_ship_a_delivery_order_with_a_label_and_the_shopper_sees_its_tracking() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;

    // The shopper's saved address, shown masked.
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138021", "/me/addresses").await;
    type_into(&phone, "#name", "周八").await;
    type_into(&phone, "#phone", "13800138021").await;
    type_into(&phone, "#province", "上海").await;
    type_into(&phone, "#city", "上海").await;
    type_into(&phone, "#address", "静安区南京西路 1266 号 18 楼").await;
    click(&phone, "#save-address").await;
    wait_for_text(&phone, ".notice.ok", "地址已保存").await;
    let listed = text_of(&phone, "#address-list .masked").await;
    assert!(listed.contains("138****8021"), "{listed}");
    assert!(!listed.contains("1266"), "the street is masked: {listed}");
    shots.take(&phone, "shop-addresses-360").await;

    // Checkout for delivery to it: the saved address is chosen, the fee shown.
    let product = milk(&app).await;
    phone
        .goto(&format!("{}/p/{product}", app.url))
        .await
        .unwrap();
    click(&phone, "form[action='/cart/add'] button").await;
    text_of(&phone, ".notice.ok").await;
    phone
        .goto(&format!("{}/checkout?mode=delivery", app.url))
        .await
        .unwrap();
    assert!(text_of(&phone, "#saved-addresses")
        .await
        .contains("138****8021"));
    let fee = text_of(&phone, "#shipping-fee").await;
    assert!(
        fee.contains("免运费"),
        "Shanghai is free in the demo: {fee}"
    );
    click(&phone, "#checkout-form button.block").await;
    let order_path = wait_path(&phone, "/orders/").await;
    let order_id = order_path.trim_start_matches("/orders/").to_owned();
    let (_, intent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            json!({"id": retail_domain::ids::new_id()}),
        )
        .await;
    app.client
        .post(intent["pay_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    // Head office ships it with a waybill, prints the label, adds tracking.
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    desk.goto(&format!("{}/console/orders/{order_id}/delivery", app.url))
        .await
        .unwrap();
    assert!(text_of(&desk, "#ship-address")
        .await
        .contains("南京西路 1266 号"));
    type_into(&desk, "#ship-form input[name=carrier]", "SF").await;
    type_into(&desk, "#ship-form input[name=waybill]", "SF8800001234").await;
    click(&desk, "#ship-waybill").await;
    wait_for_text(&desk, ".notice.ok", "已发货").await;
    assert_eq!(text_of(&desk, "#order-status").await, "已发货");
    type_into(
        &desk,
        "#tracking-form input[name=description]",
        "快递员已揽收",
    )
    .await;
    click(&desk, "#add-tracking").await;
    wait_for_text(&desk, "#tracking", "快递员已揽收").await;
    shots.take(&desk, "console-delivery-desktop").await;
    desk.goto(&format!("{}/console/orders/{order_id}/label", app.url))
        .await
        .unwrap();
    assert_eq!(text_of(&desk, "#label-waybill").await, "SF SF8800001234");
    assert!(text_of(&desk, "#label-address")
        .await
        .contains("南京西路 1266 号"));
    assert!(desk.find(Locator::Css("#label-qr svg")).await.is_ok());
    shots.take(&desk, "shipping-label-desktop").await;
    // The store-printer button answers on the page (this test server runs without the store
    // bus; the edge tests print through an agent).
    desk.goto(&format!("{}/console/orders/{order_id}/delivery", app.url))
        .await
        .unwrap();
    click(&desk, "#label-print").await;
    wait_for_text(&desk, "#delivery-error", "门店消息总线未开启").await;

    // The shopper follows it.
    phone
        .goto(&format!("{}{order_path}", app.url))
        .await
        .unwrap();
    let timeline = text_of(&phone, "#tracking-timeline").await;
    assert!(
        timeline.contains("SF8800001234") && timeline.contains("快递员已揽收"),
        "{timeline}"
    );
    shots.take(&phone, "shop-tracking-360").await;
    desk.close().await.unwrap();
    phone.close().await.unwrap();
}

/// A Chrome DevTools Protocol command sent through chromedriver's vendor endpoint
/// (`POST /session/{id}/chromium/send_command`), for what WebDriver itself cannot do: grant a
/// permission, emulate the device's position.
#[derive(Debug)]
struct DevTools {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/chromium/send_command",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// Runs a DevTools command in the browser's current page.
pub(crate) async fn devtools(client: &Client, cmd: &'static str, params: serde_json::Value) {
    client
        .issue_cmd(DevTools { cmd, params })
        .await
        .unwrap_or_else(|e| panic!("DevTools {cmd}: {e}"));
}

/// Delivery (issue 16): on `/me/addresses` the shopper's "use my location" button fills the
/// hidden position fields from the phone's geolocation (granted and set over the DevTools
/// protocol, near store SH002); the address is saved with that position, and an order to it
/// through the API (`address_id`) ships the same day from SH002.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_location_button_gives_a_saved_address_its_position() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138041", "/me/addresses").await;

    // The phone is at 徐汇区漕溪北路, near SH002, and the shop may know it.
    devtools(
        &phone,
        "Browser.grantPermissions",
        json!({"permissions": ["geolocation"], "origin": app.url}),
    )
    .await;
    devtools(
        &phone,
        "Emulation.setGeolocationOverride",
        json!({"latitude": 31.195, "longitude": 121.438, "accuracy": 10}),
    )
    .await;
    type_into(&phone, "#name", "吴九").await;
    type_into(&phone, "#phone", "13800138041").await;
    type_into(&phone, "#province", "上海").await;
    type_into(&phone, "#city", "上海").await;
    type_into(&phone, "#address", "徐汇区漕溪北路 400 号").await;
    click(&phone, "#locate").await;
    wait_for_text(&phone, "#locate-status", "已定位").await;
    let position = phone
        .execute(
            "var f = document.getElementById('address-form'); \
             return [f.elements.lat_e6.value, f.elements.lng_e6.value];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(position, json!(["31195000", "121438000"]));
    shots.take(&phone, "shop-address-located-360").await;
    click(&phone, "#save-address").await;
    wait_for_text(&phone, ".notice.ok", "地址已保存").await;
    shots.take(&phone, "shop-address-saved-360").await;
    phone.close().await.unwrap();

    // Saved with the phone's position.
    let state = &app.state;
    let member = retail_server::storage::members::by_phone(
        &state.store,
        &state.keys,
        &state.settings.points,
        "13800138041",
    )
    .await
    .unwrap()
    .expect("the shopper is a member")
    .id;
    let saved = retail_server::storage::delivery::addresses(&state.store, &state.keys, member)
        .await
        .unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (saved[0].address.lat_e6, saved[0].address.lng_e6),
        (Some(31_195_000), Some(121_438_000))
    );

    // An order to it ships from SH002, the same day.
    let sku = levels_at(&app, "SH002")
        .await
        .into_iter()
        .find(|l| l.available > 2)
        .expect("stock at SH002")
        .sku_id;
    let code = app.sign(&retail_domain::codes::SignedCode::Member(
        retail_server::storage::members::member_code(member, chrono::Utc::now(), 300),
    ));
    let (status, placed) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": retail_domain::ids::new_id(), "fulfilment": "delivery",
                "address_id": saved[0].id, "member_code": code,
                "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{placed}");
    let order_id: uuid::Uuid = placed["id"].as_str().unwrap().parse().unwrap();
    let order = retail_server::storage::orders::get(&state.store, order_id)
        .await
        .unwrap();
    assert_eq!(order.location_id, "SH002");
    let delivery = retail_server::storage::delivery::order_delivery(&state.store, order_id)
        .await
        .unwrap()
        .expect("a delivery order");
    assert!(delivery.same_city, "same-city delivery");
}

/// Hot search words and history (issue 17): a member searches from the search box; later the
/// empty search box offers head office's pinned word among the hot words and the member's own
/// search, and one tap searches it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_empty_search_box_offers_hot_words_and_the_shoppers_history() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let admin = app.login("admin").await;
    let (status, body) = app
        .put(
            "/api/v1/search/words/鸡蛋",
            Some(&admin),
            json!({"kind": "pinned"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");

    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138051", "/").await;
    phone
        .goto(&format!("{}/search?q=%E7%89%9B%E5%A5%B6", app.url))
        .await
        .unwrap();
    phone.goto(&format!("{}/", app.url)).await.unwrap();
    click(&phone, "#q").await;
    wait_for_text(&phone, "#suggest", "热门搜索").await;
    let offered = text_of(&phone, "#suggest").await;
    assert!(offered.contains("鸡蛋"), "the pinned word: {offered}");
    assert!(
        offered.contains("搜索历史") && offered.contains("牛奶"),
        "the member's search: {offered}"
    );
    // Readable: dark text on the white box (the header's white links once hid them).
    let color = phone
        .execute(
            "return getComputedStyle(document.querySelector('#suggest a')).color;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(color, json!("rgb(31, 35, 40)"), "suggestion text colour");
    shots.take(&phone, "shop-search-box-360").await;
    click_to_next_page(&phone, "#suggest a[href='/search?q=%E7%89%9B%E5%A5%B6']").await;
    assert_eq!(text_of(&phone, "main h1").await, "“牛奶”");
    phone.close().await.unwrap();
}

/// Member perks (issue 17): in the member centre a member checks in (the streak shows one day,
/// the button then says it is done) and sets their birthday once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_checks_in_and_sets_their_birthday() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138061", "/me").await;
    let points_before = text_of(&phone, "#points").await;
    click_to_next_page(&phone, "#checkin").await;
    wait_for_text(&phone, "#perks .notice.ok", "签到成功").await;
    assert!(text_of(&phone, "#streak").await.contains('1'));
    assert_eq!(text_of(&phone, "#checkin").await, "今日已签到");
    let points_after: i64 = text_of(&phone, "#points").await.parse().unwrap();
    assert_eq!(points_after, points_before.parse::<i64>().unwrap() + 5);
    type_into(&phone, "#birthday", "05-20").await;
    click_to_next_page(&phone, "#save-birthday").await;
    wait_for_text(&phone, "#perks .notice.ok", "生日已保存").await;
    assert!(text_of(&phone, "#birthday").await.contains("05-20"));
    shots.take(&phone, "shop-member-perks-360").await;
    phone.close().await.unwrap();
}

/// Share posters (issue 17): from a product's page a member opens its poster; the picture the
/// phone shows is 750 × 1334 and its QR code reads back the product's link attributed to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_opens_a_products_share_poster() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let product = milk(&app).await;
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800138062", &format!("/p/{product}")).await;
    click_to_next_page(&phone, "#make-poster").await;
    wait_path(&phone, &format!("/p/{product}/poster")).await;
    let shown = phone
        .execute_async(
            "var done = arguments[arguments.length - 1];
             var img = document.getElementById('poster');
             function read() {
               fetch(img.src).then(function (r) { return r.arrayBuffer(); }).then(function (b) {
                 var bytes = new Uint8Array(b), text = '';
                 for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
                 done({width: img.naturalWidth, height: img.naturalHeight, png: btoa(text)});
               });
             }
             if (img.complete && img.naturalWidth) read(); else img.onload = read;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        (shown["width"].as_u64(), shown["height"].as_u64()),
        (Some(750), Some(1334))
    );
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        shown["png"].as_str().unwrap(),
    )
    .unwrap();
    let link = crate::posters::qr_text(&png);
    assert!(
        link.starts_with(&format!("{}/p/{product}?sku=", app.url)),
        "{link}"
    );
    // Attributed to the member who made it: the share code resolves to them.
    let (_, code) = link.split_once("&s=").expect("a share code");
    let share = retail_server::app::shares::resolve(&app.state, code).expect("a valid share code");
    let member = retail_server::storage::members::by_phone(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        "13800138062",
    )
    .await
    .unwrap()
    .map(|m| m.id);
    assert_eq!(Some(share.sharer_id), member);
    shots.take(&phone, "shop-share-poster-360").await;
    phone.close().await.unwrap();
}
