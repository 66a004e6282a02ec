//! Growth analytics (issue 19, docs/ANALYTICS.md): events posted through `POST /api/v1/events`
//! from shoppers' sessions and anonymous devices and real orders placed and paid make exact
//! funnel counts and drop-offs (a resent batch and a second view of the same day add nothing),
//! by channel and campaign; a coupon claimed and used on a known order gives exact ROI figures
//! against the baseline basket; retention cohorts are exact, also when an older week arrives
//! late; each CSV equals its table; store staff are refused. In Chromium: a shopper arriving with
//! `?utm_campaign=` adds to cart, and head office sees the bars and numbers of that campaign.
//! The group-buy report: orders, units, GMV and the teams' success rate.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{Backend, TestApp};
use crate::web::{a_sku, console, shopper, Browser};

const D1: &str = "0b6f3c1e-9a4d-4f7e-8c2b-5d1a7e9f0001";
const D2: &str = "0b6f3c1e-9a4d-4f7e-8c2b-5d1a7e9f0002";
const D3: &str = "0b6f3c1e-9a4d-4f7e-8c2b-5d1a7e9f0003";
const D4: &str = "0b6f3c1e-9a4d-4f7e-8c2b-5d1a7e9f0004";

fn now_ms() -> i64 {
    retail_server::storage::now_ms()
}

fn today() -> i64 {
    retail_server::app::china_day(now_ms())
}

fn date(day: i64) -> String {
    retail_server::app::growth::date(day)
}

fn ev(device: &str, name: &str, page: &str, props: Value) -> Value {
    json!({
        "id": Uuid::now_v7(), "name": name, "v": 1, "ts": now_ms(), "device": device,
        "page": page, "channel": "online", "props": props,
    })
}

/// A device's path through the shop: a product view, then the steps asked for.
fn path(device: &str, campaign: Option<&str>, cart: bool, checkout: bool) -> Vec<Value> {
    let with = |mut p: Value| {
        if let Some(c) = campaign {
            p["campaign"] = json!(c);
        }
        p
    };
    let mut events = vec![
        ev(device, "page_view", "/", with(json!({"dwell_ms": 500}))),
        ev(device, "page_view", "/p/1", with(json!({"dwell_ms": 900}))),
    ];
    if cart {
        events.push(ev(
            device,
            "click",
            "/p/1",
            with(json!({"target": "add_to_cart"})),
        ));
    }
    if checkout {
        events.push(ev(
            device,
            "click",
            "/cart",
            with(json!({"target": "checkout"})),
        ));
        events.push(ev(
            device,
            "click",
            "/checkout",
            with(json!({"target": "place_order"})),
        ));
    }
    events
}

async fn send(b: &mut Browser, events: &[Value]) -> Value {
    let page = b
        .post_body(
            "/api/v1/events",
            "text/plain",
            json!({ "events": events }).to_string(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

async fn flush(app: &TestApp) {
    retail_server::app::events::flush(&app.state).await.unwrap();
}

async fn one_i64(app: &TestApp, sql: &str, bind: &str) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query(sql)
        .bind(bind.to_owned())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<i64, _>(&row, 0)
}

async fn one_text(app: &TestApp, sql: &str, bind: &str) -> Option<String> {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query(sql)
        .bind(bind.to_owned())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<Option<String>, _>(&row, 0)
}

/// The text of `<td class="{class}">` in the row of `table` whose `attr` is `key`.
fn cell<'a>(body: &'a str, row_attr: &str, class: &str) -> &'a str {
    let row = body
        .split(row_attr)
        .nth(1)
        .unwrap_or_else(|| panic!("{row_attr} in {body}"));
    let row = row.split("</tr>").next().unwrap();
    let start = format!("class=\"{class}\">");
    crate::web::between(row, &start, "<")
}

fn csv_lines(body: &str) -> Vec<String> {
    body.trim_start_matches('\u{feff}')
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn funnel_counts_roi_and_csv_are_exact(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, sku) = a_sku(&app, "纯牛奶").await;
    // A coupon template claimed in the coupon centre: ¥2 off, no threshold.
    let template = retail_domain::ids::new_id();
    let now = chrono::Utc::now();
    let (status, body) = app
        .post(
            "/api/v1/coupon-templates",
            Some(&admin),
            json!({
                "id": template,
                "terms": { "name_zh": "漏斗测试券", "name_en": "Funnel coupon",
                    "rule": { "kind": "no_threshold", "amount": "2.00" },
                    "stacks_with_promotions": true },
                "issue_on": "claim",
                "valid_from": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "valid_until": (now + chrono::Duration::days(7)).to_rfc3339(),
                "per_member_limit": 1, "stock_total": 10
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Shopper A (device D1, campaign "spring"): view, cart, checkout; the batch resent and a
    // second product view the same day change nothing.
    let mut a = shopper(&app, "13800250001").await;
    let a_events = path(D1, Some("spring"), true, true);
    let got = send(&mut a, &a_events).await;
    assert_eq!(got["accepted"], json!(5), "{got}");
    let got = send(&mut a, &a_events).await;
    assert_eq!(got["duplicates"], json!(5), "{got}");
    send(
        &mut a,
        &[ev(
            D1,
            "page_view",
            "/p/2",
            json!({"dwell_ms": 3, "campaign": "spring"}),
        )],
    )
    .await;
    // Shopper B (device D2, no campaign): view, cart, checkout.
    let mut b = shopper(&app, "13800250002").await;
    send(&mut b, &path(D2, None, true, true)).await;
    // Anonymous: D3 views only, D4 goes as far as checkout.
    let mut anon = Browser::new(&app);
    send(&mut anon, &path(D3, None, false, false)).await;
    send(&mut anon, &path(D4, None, true, true)).await;

    // A claims the coupon and orders two units with it; B orders one without. Both pay.
    let a_member = one_text(
        &app,
        "SELECT id FROM members WHERE phone_hash = $1",
        &app.state.keys.lookup_hash("13800250001"),
    )
    .await
    .unwrap();
    let code = crate::pricing::member_code(&app, &admin, a_member.parse().unwrap()).await;
    let coupon = retail_domain::ids::new_id();
    let (status, body) = app
        .post(
            &format!("/api/v1/coupon-templates/{template}/claim"),
            None,
            json!({"coupon_id": coupon, "member_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    a.post_csrf(
        "/cart/add",
        &[("sku", &sku.to_string()), ("qty", "2"), ("back", "/cart")],
    )
    .await;
    let page = a
        .post_csrf(
            "/checkout",
            &[
                ("id", &retail_domain::ids::new_id().to_string()),
                ("mode", "pickup"),
                ("store", "SH001"),
                ("coupon", &coupon.to_string()),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let a_order = page
        .location
        .unwrap()
        .trim_start_matches("/orders/")
        .to_owned();
    crate::bus::pay(&app, &a_order).await;
    let b_order = crate::web::pickup_order(&mut b, sku).await;
    crate::bus::pay(&app, &b_order).await;
    flush(&app).await;
    // The second flush finds nothing new: nothing counts twice.
    flush(&app).await;

    let a_total = one_i64(&app, "SELECT total_fen FROM orders WHERE id = $1", &a_order).await;
    let b_total = one_i64(&app, "SELECT total_fen FROM orders WHERE id = $1", &b_order).await;
    let b_pricing = one_text(&app, "SELECT pricing FROM orders WHERE id = $1", &b_order)
        .await
        .unwrap_or_default();
    assert!(!b_pricing.contains("promotion_id"), "{b_pricing}");
    assert_eq!(a_total, 2 * b_total - 200, "two units less the ¥2 coupon");

    // The funnel: views D1–D4, carts D1, D2, D4, checkouts D1, D2, D4, paid A (D1) and B (D2).
    let day = date(today());
    let range = format!("from={day}&to={day}");
    let mut desk = console(&app, "admin").await;
    let page = desk
        .get(&format!("/console/analytics/funnel?{range}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let expect = [
        ("view", "4", "—", "0", "—"),
        ("cart", "3", "75.0%", "1", "25.0%"),
        ("checkout", "3", "100.0%", "0", "0.0%"),
        ("paid", "2", "66.7%", "1", "33.3%"),
    ];
    let steps = page.body.split("id=\"funnel-steps\"").nth(1).unwrap();
    for (step, visitors, conversion, dropped, drop_off) in expect {
        let attr = format!("tr data-step=\"{step}\"");
        assert_eq!(cell(steps, &attr, "visitors"), visitors, "{step}");
        assert_eq!(cell(steps, &attr, "conversion"), conversion, "{step}");
        assert_eq!(cell(steps, &attr, "dropped"), dropped, "{step}");
        assert_eq!(cell(steps, &attr, "drop-off"), drop_off, "{step}");
    }
    // Bars: the widest step is 60%, the others in proportion.
    assert!(page.body.contains("data-step=\"view\"><span class=\"l\">"));
    assert!(page.body.contains("style=\"width:60%\""), "{}", page.body);
    assert!(page.body.contains("style=\"width:30%\""), "paid: 2 of 4");
    // Its CSV equals the table.
    let csv = desk
        .get(&format!(
            "/console/analytics/funnel.csv?{range}&table=steps"
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(
        csv_lines(&csv.body),
        vec![
            "step,visitors,conversion,dropped,drop_off",
            "view,4,,0,",
            "cart,3,75.0%,1,25.0%",
            "checkout,3,100.0%,0,0.0%",
            "paid,2,66.7%,1,33.3%",
        ]
    );
    let csv = desk
        .get(&format!(
            "/console/analytics/funnel.csv?{range}&table=campaigns"
        ))
        .await;
    assert_eq!(
        csv_lines(&csv.body),
        vec![
            "campaign,view,cart,checkout,paid",
            ",3,2,2,1",
            "spring,1,1,1,1"
        ]
    );
    let csv = desk
        .get(&format!("/console/analytics/funnel.csv?{range}&table=days"))
        .await;
    assert_eq!(
        csv_lines(&csv.body),
        vec![
            "date,view,cart,checkout,paid".to_owned(),
            format!("{day},4,3,3,2")
        ]
    );
    // Filters: the campaign, "no campaign", another channel.
    let csv = desk
        .get(&format!(
            "/console/analytics/funnel.csv?{range}&campaign=spring&table=channels"
        ))
        .await;
    assert_eq!(
        csv_lines(&csv.body),
        vec!["channel,view,cart,checkout,paid", "online,1,1,1,1"]
    );
    let csv = desk
        .get(&format!(
            "/console/analytics/funnel.csv?{range}&campaign=-&table=channels"
        ))
        .await;
    assert_eq!(
        csv_lines(&csv.body),
        vec!["channel,view,cart,checkout,paid", "online,3,2,2,1"]
    );
    let page = desk
        .get(&format!(
            "/console/analytics/funnel?{range}&channel=scan_and_go"
        ))
        .await;
    let steps = page.body.split("id=\"funnel-steps\"").nth(1).unwrap();
    assert_eq!(cell(steps, "tr data-step=\"view\"", "visitors"), "0");
    assert!(
        page.body.contains("<option value=\"spring\""),
        "campaign filter"
    );

    // Promotion ROI: the coupon claimed once and used once, on A's order.
    let page = desk
        .get(&format!("/console/analytics/promotions?{range}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let incremental = a_total - b_total; // one order × the baseline basket (B's order)
    let roi = retail_server::app::growth::ratio(incremental, 200).unwrap();
    let attr = format!("tr data-id=\"{template}\"");
    assert_eq!(cell(&page.body, &attr, "claimed"), "1");
    assert_eq!(cell(&page.body, &attr, "used"), "1");
    assert_eq!(cell(&page.body, &attr, "redemption"), "100.0%");
    assert_eq!(cell(&page.body, &attr, "orders"), "1");
    assert_eq!(cell(&page.body, &attr, "discount"), "¥2.00");
    assert_eq!(cell(&page.body, &attr, "incremental"), yuan(incremental));
    assert_eq!(cell(&page.body, &attr, "roi"), roi);
    assert_eq!(
        crate::web::between(&page.body, "id=\"baseline-basket\">", "<"),
        yuan(b_total)
    );
    let csv = desk
        .get(&format!("/console/analytics/promotions.csv?{range}"))
        .await;
    assert_eq!(
        csv_lines(&csv.body),
        vec![
            "kind,id,name,claimed,used,redemption,orders,discount,gmv,incremental_gmv,roi"
                .to_owned(),
            format!(
                "coupon,{template},漏斗测试券,1,1,100.0%,1,2.00,{},{},{roi}",
                money(a_total),
                money(incremental)
            ),
        ]
    );

    // Retention: A and B in this week's cohort.
    let page = desk
        .get(&format!("/console/analytics/retention?{range}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let week = date(retail_server::storage::growth::week_start(
        retail_server::storage::growth::week_of(today()),
    ));
    assert_eq!(
        cell(&page.body, &format!("tr data-week=\"{week}\""), "size"),
        "2"
    );
    let page = desk
        .get(&format!("/console/analytics/campaigns?{range}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"campaigns-table\""));

    // Store staff are refused, pages and CSV alike.
    for user in ["mgr.sh001", "cashier1.sh001"] {
        let mut staff = console(&app, user).await;
        for path in [
            "/console/analytics/funnel",
            "/console/analytics/funnel.csv",
            "/console/analytics/retention",
            "/console/analytics/promotions.csv",
            "/console/analytics/campaigns",
        ] {
            let page = staff.get(path).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{user} {path}");
        }
    }
}
crate::both_backends!(
    funnel_counts_roi_and_csv_are_exact,
    funnel_counts_roi_and_csv_are_exact
);

fn money(fen: i64) -> String {
    retail_domain::money::Money::from_fen(fen).to_string()
}

fn yuan(fen: i64) -> String {
    format!("¥{}", money(fen))
}

/// A paid-order event of `order`'s member on China day `day`, stored as the server stores its
/// events (a late lane sale, an order paid weeks ago).
async fn paid_on(app: &TestApp, order: &str, day: i64) -> usize {
    let at = (day * 86_400_000) - 8 * 3_600_000 + 12 * 3_600_000;
    let event = retail_server::storage::events::NewEvent {
        event_id: format!("order_paid:{order}"),
        name: "order_paid".into(),
        source: "server",
        schema_version: 1,
        occurred_at: at,
        day,
        device_id: None,
        member_id: None,
        store_id: Some("SH001".into()),
        channel: "pos".into(),
        page: None,
        props: json!({"order_no": "x", "total_fen": 1}).to_string(),
        order_id: Some(order.parse().unwrap()),
    };
    retail_server::storage::events::insert(&app.state.store, &[event])
        .await
        .unwrap()
        .stored
}

async fn retention_cohorts_are_exact(app: TestApp) {
    use crate::sales::{push, register_lane, sale, sku_ids};
    use retail_server::storage::growth::{week_of, week_start};
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane cohorts").await;
    let skus = sku_ids(&app, &admin, 1).await;
    let mut members = Vec::new();
    for phone in ["13800260001", "13800260002", "13800260003"] {
        members.push(
            crate::pricing::register_member(&app, &admin, phone)
                .await
                .to_string(),
        );
    }
    // Six lane sales: m1 ×3, m2 ×2, m3 ×1 (each also a `lane_sale` event of this week).
    let owners = [0, 0, 0, 1, 1, 2];
    let mut orders = Vec::new();
    for &m in &owners {
        let s = sale("SH001", Some(&members[m]), &[(&skus[0], 1, 500)], &[]);
        let results = push(&app, &lane, std::slice::from_ref(&s)).await;
        assert_eq!(results[0]["outcome"], json!("applied"), "{results:?}");
        orders.push(s["id"].as_str().unwrap().to_owned());
    }
    let w = week_of(today());
    let in_week = |k: i64| week_start(w - k) + 2;
    // m1 paid 3 and 1 weeks ago, and (arriving last) 4 weeks ago; m2 twice 3 weeks ago; m3
    // 1 week ago. A resent event counts nothing.
    assert_eq!(paid_on(&app, &orders[0], in_week(3)).await, 1);
    assert_eq!(paid_on(&app, &orders[1], in_week(1)).await, 1);
    assert_eq!(paid_on(&app, &orders[3], in_week(3)).await, 1);
    assert_eq!(paid_on(&app, &orders[4], in_week(3)).await, 1);
    assert_eq!(paid_on(&app, &orders[5], in_week(1)).await, 1);
    assert_eq!(paid_on(&app, &orders[0], in_week(3)).await, 0);
    assert_eq!(paid_on(&app, &orders[2], in_week(4)).await, 1);
    flush(&app).await;

    // Weeks: m1 {w-4, w-3, w-1, w}, m2 {w-3, w}, m3 {w-1, w}.
    let from = date(week_start(w - 4));
    let to = date(today());
    let mut desk = console(&app, "admin").await;
    let csv = desk
        .get(&format!(
            "/console/analytics/retention.csv?from={from}&to={to}"
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    let lines = csv_lines(&csv.body);
    assert_eq!(
        lines[0],
        "cohort_week,members,week_0,week_0_pct,week_1,week_1_pct,week_2,week_2_pct,week_3,week_3_pct,week_4,week_4_pct"
    );
    let wk = |k: i64| date(week_start(w - k));
    assert_eq!(
        lines[1..].to_vec(),
        vec![
            format!("{},1,1,100.0%,1,100.0%,0,0.0%,1,100.0%,1,100.0%", wk(4)),
            format!("{},1,1,100.0%,0,0.0%,0,0.0%,1,100.0%,,", wk(3)),
            format!("{},0,0,,0,,0,,,,,", wk(2)),
            format!("{},1,1,100.0%,1,100.0%,,,,,,", wk(1)),
            format!("{},0,0,,,,,,,,,", wk(0)),
        ]
    );
    // The page shows the same cells.
    let page = desk
        .get(&format!("/console/analytics/retention?from={from}&to={to}"))
        .await;
    let row = page
        .body
        .split(&format!("tr data-week=\"{}\"", wk(4)))
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap()
        .to_owned();
    assert!(row.contains("data-after=\"3\" data-members=\"1\""), "{row}");
    assert!(row.contains("data-after=\"2\" data-members=\"0\""), "{row}");
    assert!(row.contains("100.0%"), "{row}");
}
crate::both_backends!(retention_cohorts_are_exact, retention_cohorts_are_exact);

/// In Chromium: a shopper arrives on a product page from a campaign link
/// (`?utm_campaign=winter`) and adds it to the cart; head office opens the funnel of that
/// campaign and sees one visitor viewing and adding to cart, the bars drawn to match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_funnel_page_shows_a_campaign_in_the_browser() {
    use crate::browser::{
        browser, browser_available, click_to_next_page, console_login, milk, start_driver, text_of,
    };
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let driver = start_driver().await;
    let product = milk(&app).await;
    let phone = browser(&driver, true).await;
    phone
        .goto(&format!("{}/p/{product}?utm_campaign=winter", app.url))
        .await
        .unwrap();
    click_to_next_page(&phone, "#add-to-cart").await;
    phone.goto(&format!("{}/cart", app.url)).await.unwrap();
    // The beacon arrives when the pages are left: wait for the cart step.
    let mut arrived = false;
    for _ in 0..300 {
        let n = one_i64(
            &app,
            "SELECT COUNT(*) FROM funnel_days WHERE campaign = $1 AND step = 'cart'",
            "winter",
        )
        .await;
        if n > 0 {
            arrived = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(arrived, "the campaign's cart step arrived");
    phone.close().await.unwrap();

    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    desk.goto(&format!(
        "{}/console/analytics/funnel?campaign=winter",
        app.url
    ))
    .await
    .unwrap();
    assert_eq!(
        text_of(&desk, "#funnel-steps tr[data-step=view] td.visitors").await,
        "1"
    );
    assert_eq!(
        text_of(&desk, "#funnel-steps tr[data-step=cart] td.visitors").await,
        "1"
    );
    assert_eq!(
        text_of(&desk, "#funnel-steps tr[data-step=cart] td.conversion").await,
        "100.0%"
    );
    assert_eq!(
        text_of(&desk, "#funnel-steps tr[data-step=checkout] td.visitors").await,
        "0"
    );
    assert_eq!(
        text_of(&desk, "#funnel-bars div[data-step=cart] span.n").await,
        "1"
    );
    // The bars as drawn: view and cart equally wide, checkout and paid barely there.
    let widths = desk
        .execute(
            "return Array.from(document.querySelectorAll('#funnel-bars i')).map(function(i){return i.getBoundingClientRect().width;});",
            vec![],
        )
        .await
        .unwrap();
    let widths: Vec<f64> = widths
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .collect();
    assert_eq!(widths.len(), 4, "{widths:?}");
    assert!(widths[0] > 100.0, "{widths:?}");
    assert!((widths[0] - widths[1]).abs() < 1.0, "{widths:?}");
    assert!(widths[2] < 5.0 && widths[3] < 5.0, "{widths:?}");
    // The campaign is offered in the filter, and selected.
    assert_eq!(
        text_of(&desk, "#campaign option[value=winter]").await,
        "winter"
    );
    desk.close().await.unwrap();
}

/// The group-buy report: a team of two filled (both paid), another open with its leader paid —
/// three paid orders at the group price, one unit each, one team of one closed filled.
async fn the_group_buy_report_is_exact(app: TestApp) {
    use crate::group_buys::{as_member, create_group_buy, new_member, open_team, stocked_sku};
    let (sku, price) = stocked_sku(&app, 40).await;
    let group_price = (price / 2).max(1);
    let gb = create_group_buy(&app, sku, group_price, 2, false).await;
    let a = new_member(&app, "13900500001").await;
    let b = new_member(&app, "13900500002").await;
    let c = new_member(&app, "13900500003").await;
    let (team, order_a) = open_team(&app, gb, a).await;
    let (status, body) = as_member(
        &app,
        b,
        &format!("/api/v1/group-teams/{team}/join"),
        json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let order_b = body["id"].as_str().unwrap().to_owned();
    let (_, order_c) = open_team(&app, gb, c).await;
    for order in [order_a.to_string(), order_b, order_c.to_string()] {
        crate::bus::pay(&app, &order).await;
    }
    let mut filled = false;
    for _ in 0..100 {
        let mut tx = app.state.store.begin().await.unwrap();
        let row = sqlx::query("SELECT status FROM group_teams WHERE id = $1")
            .bind(team.to_string())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        if sqlx::Row::get::<String, _>(&row, 0) == "filled" {
            filled = true;
            break;
        }
        drop(tx);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(filled, "the team of two filled");
    flush(&app).await;

    let day = date(today());
    let range = format!("from={day}&to={day}");
    let mut desk = console(&app, "admin").await;
    let page = desk
        .get(&format!("/console/analytics/campaigns?{range}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let attr = format!("tr data-id=\"{gb}\"");
    assert_eq!(cell(&page.body, &attr, "orders"), "3");
    assert_eq!(cell(&page.body, &attr, "units"), "3");
    assert_eq!(cell(&page.body, &attr, "succeeded"), "1");
    assert_eq!(cell(&page.body, &attr, "failed"), "0");
    assert_eq!(cell(&page.body, &attr, "open"), "1");
    assert_eq!(cell(&page.body, &attr, "success"), "100.0%");
    let csv = desk
        .get(&format!("/console/analytics/campaigns.csv?{range}"))
        .await;
    assert_eq!(
        csv_lines(&csv.body),
        vec![
            "kind,id,name,orders,units,gmv,succeeded,failed,open,success_rate".to_owned(),
            format!(
                "group_buy,{gb},三人团,3,3,{},1,0,1,100.0%",
                money(3 * group_price)
            ),
        ]
    );
    // The group price is the campaign's, not a promotion of the ROI report.
    let page = desk
        .get(&format!("/console/analytics/promotions?{range}"))
        .await;
    assert!(!page.body.contains(&gb.to_string()), "{}", page.body);
}
crate::both_backends!(the_group_buy_report_is_exact, the_group_buy_report_is_exact);
