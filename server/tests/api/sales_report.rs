//! Sales analytics (issue 19): orders placed and paid through the real APIs — online delivery,
//! pickup, a lane sale, scan-and-go — added to the sales rollup exactly once (a re-run changes
//! nothing), a refund paid back subtracting, the figures (GMV, orders, items, margin over the
//! SKUs with a cost) checked against what was sold, a store manager seeing only their store, a
//! cashier refused, the CSV matching the page's table; and a real browser reading the sales
//! page's chart and table.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{Backend, TestApp};
use crate::web::{a_sku, between, console, pickup_order, shopper};

fn today() -> String {
    let day = retail_server::app::china_day(retail_server::storage::now_ms());
    retail_server::app::sales_report::date(day)
}

async fn rollup(app: &TestApp) {
    retail_server::app::sales_report::run_rollup(&app.state)
        .await
        .unwrap();
}

/// Every row of the rollup tables, as text, in order.
async fn snapshot(app: &TestApp) -> Vec<String> {
    use sqlx::Row;
    let days = sqlx::query(
        "SELECT day, store_id, channel, orders, member_orders, gmv_fen, discount_fen, items, \
         costed_amount_fen, cost_fen, refunds, refund_fen FROM sales_days ORDER BY day, store_id, channel",
    )
    .fetch_all(&mut *app.state.store.begin().await.unwrap())
    .await
    .unwrap();
    let mut out: Vec<String> = days
        .iter()
        .map(|r| {
            let mut v = vec![r.get::<String, _>(1), r.get::<String, _>(2)];
            for i in [0, 3, 4, 5, 6, 7, 8, 9, 10, 11] {
                v.push(r.get::<i64, _>(i).to_string());
            }
            v.join(" ")
        })
        .collect();
    let skus = sqlx::query(
        "SELECT day, store_id, channel, sku_id, qty, amount_fen FROM sales_sku_days \
         ORDER BY day, store_id, channel, sku_id",
    )
    .fetch_all(&mut *app.state.store.begin().await.unwrap())
    .await
    .unwrap();
    out.extend(skus.iter().map(|r| {
        format!(
            "{} {} {} {} {} {}",
            r.get::<i64, _>(0),
            r.get::<String, _>(1),
            r.get::<String, _>(2),
            r.get::<String, _>(3),
            r.get::<i64, _>(4),
            r.get::<i64, _>(5)
        )
    }));
    out
}

/// (total_fen, discount_fen) of an order, from the ledger.
async fn order_total(app: &TestApp, id: &str) -> (i64, i64) {
    use sqlx::Row;
    let r = sqlx::query("SELECT total_fen, discount_fen FROM orders WHERE id = $1")
        .bind(id.to_owned())
        .fetch_one(&mut *app.state.store.begin().await.unwrap())
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

/// (qty, amount_fen) of an order's lines of one SKU.
async fn lines_of(app: &TestApp, order: &str, sku: &str) -> (i64, i64) {
    use sqlx::Row;
    let r = sqlx::query(
        "SELECT CAST(COALESCE(SUM(qty), 0) AS BIGINT), CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) \
         FROM order_lines WHERE order_id = $1 AND sku_id = $2",
    )
    .bind(order.to_owned())
    .bind(sku.to_owned())
    .fetch_one(&mut *app.state.store.begin().await.unwrap())
    .await
    .unwrap();
    (r.get(0), r.get(1))
}

async fn report(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    app.get(&format!("/api/v1/analytics/sales?{query}"), Some(token))
        .await
}

fn line<'a>(lines: &'a Value, key: &str) -> &'a Value {
    lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["key"] == json!(key))
        .unwrap_or_else(|| panic!("{key} in {lines}"))
}

/// A scan-and-go order at SH001 of one unit of `sku`, paid at the sandbox: its id.
async fn scan_and_go(app: &TestApp, phone: &str, sku: Uuid) -> String {
    let mut b = shopper(app, phone).await;
    let page = b.post_csrf("/scan/start", &[("store", "SH001")]).await;
    assert_eq!(page.location.as_deref(), Some("/scan"));
    let sku = retail_server::storage::catalog::sku(&app.state.store, sku, None)
        .await
        .unwrap()
        .unwrap();
    b.post_csrf("/scan/add", &[("code", &sku.barcodes[0])])
        .await;
    let page = b.post_csrf("/scan/pay", &[]).await;
    let pay = page.location.unwrap();
    assert!(pay.starts_with("/sandbox/pay/"), "{pay}");
    let resp = app
        .client
        .post(format!("{}{pay}", app.url))
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("支付成功"));
    use sqlx::Row;
    sqlx::query(
        "SELECT id FROM orders WHERE channel = 'scan_and_go' ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(&mut *app.state.store.begin().await.unwrap())
    .await
    .unwrap()
    .get(0)
}

async fn sales_are_rolled_up_once_and_refunds_subtract(app: TestApp) {
    use crate::sales::{member, push, register_lane, sale, sku_ids};
    let admin = app.login("admin").await;
    let (_, milk) = a_sku(&app, "纯牛奶").await;
    let milk_s = milk.to_string();

    // Head office sets the milk's cost in the catalog's SKU editor: ¥1.00 a unit.
    let mut office = console(&app, "admin").await;
    let page = office
        .post_csrf(
            &format!("/console/catalog/skus/{milk}/cost"),
            &[("cost", "1.00")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    // Online delivery (from the warehouse), paid.
    let (_, stock) = app
        .get("/api/v1/stock?location_id=WH01&limit=50", Some(&admin))
        .await;
    let wh_sku = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > 5)
        .expect("a stocked SKU at WH01")["sku_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "delivery",
                   "address": {"name": "张三", "phone": "13900001111", "address": "上海市徐汇区 1 号"},
                   "lines": [{"sku_id": wh_sku, "qty": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let delivery = order["id"].as_str().unwrap().to_owned();
    crate::bus::pay(&app, &delivery).await;

    // Pickup at SH001 by a member, in the shop, paid.
    let mut b = shopper(&app, "13800190101").await;
    let pickup = pickup_order(&mut b, milk).await;
    crate::bus::pay(&app, &pickup).await;

    // An unpaid pickup order: not a sale.
    let mut unpaid_b = shopper(&app, "13800190102").await;
    let unpaid = pickup_order(&mut unpaid_b, milk).await;

    // A lane sale at SH001 to a member: 2 × ¥3.50 and 1 × ¥12.00.
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane sales report").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let (member_id, _, _) = member(&app, &admin, "13800138001").await;
    let one = sale(
        "SH001",
        Some(&member_id),
        &[(&skus[0], 2, 350), (&skus[1], 1, 1200)],
        &[],
    );
    let results = push(&app, &lane, std::slice::from_ref(&one)).await;
    assert_eq!(results[0]["outcome"], json!("applied"), "{results:?}");

    // Scan-and-go at SH001: one milk, paid.
    let scan = scan_and_go(&app, "13800190104", milk).await;

    rollup(&app).await;
    let first = snapshot(&app).await;
    // Running the job again (as the sweeper does, or after a restart) changes nothing.
    rollup(&app).await;
    rollup(&app).await;
    assert_eq!(snapshot(&app).await, first);

    let day = today();
    let q = format!("from={day}&to={day}");
    let (status, r) = report(&app, &admin, &q).await;
    assert_eq!(status, StatusCode::OK, "{r}");

    let (delivery_total, delivery_discount) = order_total(&app, &delivery).await;
    let (pickup_total, pickup_discount) = order_total(&app, &pickup).await;
    let (scan_total, scan_discount) = order_total(&app, &scan).await;
    let by_channel = &r["by_channel"];
    let d = line(by_channel, "delivery");
    assert_eq!(d["orders"], json!(1));
    assert_eq!(d["gmv_fen"], json!(delivery_total));
    assert_eq!(d["items"], json!(2));
    let p = line(by_channel, "pickup");
    assert_eq!(
        p["orders"],
        json!(1),
        "the unpaid order {unpaid} is not a sale"
    );
    assert_eq!(p["member_orders"], json!(1));
    assert_eq!(p["gmv_fen"], json!(pickup_total));
    assert_eq!(p["items"], json!(1));
    let l = line(by_channel, "lane");
    assert_eq!(l["orders"], json!(1));
    assert_eq!(l["member_orders"], json!(1));
    assert_eq!(l["gmv_fen"], json!(1900));
    assert_eq!(l["items"], json!(3));
    let s = line(by_channel, "scan_and_go");
    assert_eq!(s["orders"], json!(1));
    assert_eq!(s["gmv_fen"], json!(scan_total));
    assert_eq!(s["items"], json!(1));

    let total = &r["total"];
    let gmv = delivery_total + pickup_total + 1900 + scan_total;
    assert_eq!(total["orders"], json!(4));
    assert_eq!(total["gmv_fen"], json!(gmv));
    assert_eq!(total["avg_basket_fen"], json!(gmv / 4));
    assert_eq!(
        total["discount_fen"],
        json!(delivery_discount + pickup_discount + scan_discount)
    );
    assert_eq!(total["items"], json!(7));
    // Margin: over the milk lines only (the only SKU with a cost), ¥1.00 a unit.
    let (pq, pa) = lines_of(&app, &pickup, &milk_s).await;
    let (sq, sa) = lines_of(&app, &scan, &milk_s).await;
    let lane_milk = skus.iter().position(|s| *s == milk_s);
    let (lq, la) = match lane_milk {
        Some(i) => [(2, 700), (1, 1200)][i],
        None => (0, 0),
    };
    let (dq, da) = if wh_sku == milk_s {
        lines_of(&app, &delivery, &milk_s).await
    } else {
        (0, 0)
    };
    let costed = pa + sa + la + da;
    let cost = (pq + sq + lq + dq) * 100;
    assert_eq!(total["costed_amount_fen"], json!(costed));
    assert_eq!(total["cost_fen"], json!(cost));
    assert_eq!(total["margin_fen"], json!(costed - cost));
    // Stores: the delivery under the warehouse, the rest at SH001.
    let sh001 = line(&r["by_store"], "SH001");
    assert_eq!(sh001["orders"], json!(3));
    assert_eq!(sh001["gmv_fen"], json!(pickup_total + 1900 + scan_total));
    assert_eq!(line(&r["by_store"], "WH01")["orders"], json!(1));
    // Top products: the milk among them, its amount what was sold.
    let milk_code = retail_server::storage::catalog::sku(&app.state.store, milk, None)
        .await
        .unwrap()
        .unwrap()
        .sku_code;
    let top = line_by(&r["top_products"], &milk_code);
    assert_eq!(top["amount_fen"], json!(pa + sa + la + da));
    assert!(!r["top_categories"].as_array().unwrap().is_empty());
    assert_eq!(r["series"].as_array().unwrap().len(), 1);
    assert_eq!(r["series"][0]["gmv_fen"], json!(gmv));

    // A refund paid back subtracts (on the day it was paid back), once.
    let (refunded_order, _, refund_fen) = crate::refund_approvals::paid_order(&app, "SH001").await;
    rollup(&app).await;
    let manager = app.login("mgr.sh001").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{refunded_order}/cancel"),
            Some(&manager),
            json!({"reason": "缺货"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    retail_testkit::wait_until(
        "the refund paid back",
        std::time::Duration::from_secs(60),
        || async {
            use sqlx::Row;
            sqlx::query("SELECT COUNT(*) FROM payment_refunds WHERE state = 'success'")
                .fetch_one(&mut *app.state.store.begin().await.unwrap())
                .await
                .unwrap()
                .get::<i64, _>(0)
                == 1
        },
    )
    .await;
    rollup(&app).await;
    rollup(&app).await;
    let (_, r) = report(&app, &admin, &q).await;
    let p = line(&r["by_channel"], "pickup");
    assert_eq!(p["orders"], json!(2), "the refunded order was sold first");
    assert_eq!(p["refunds"], json!(1));
    assert_eq!(p["refund_fen"], json!(refund_fen));
    let total = &r["total"];
    assert_eq!(total["refund_fen"], json!(refund_fen));
    assert_eq!(
        total["net_fen"],
        json!(total["gmv_fen"].as_i64().unwrap() - refund_fen)
    );

    // A store manager sees only their store; asking for another is refused; a cashier is
    // refused.
    let (status, mine) = report(&app, &manager, &q).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["store"], json!("SH001"));
    assert_eq!(mine["by_store"].as_array().unwrap().len(), 1);
    assert_eq!(mine["total"]["orders"], json!(4));
    assert_eq!(line(&mine["by_channel"], "delivery")["orders"], json!(0));
    let (status, _) = report(&app, &manager, &format!("{q}&store=WH01")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let cashier = app.login("cashier1.sh001").await;
    let (status, _) = report(&app, &cashier, &q).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = report(&app, &admin, "from=2026-01-01&to=2027-12-31").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The console page's tables and their CSV say the same.
    let mut mgr = console(&app, "mgr.sh001").await;
    let page = mgr
        .get(&format!("/console/analytics/sales?{q}&granularity=day"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<svg"));
    assert!(
        !page.body.contains("WH01"),
        "the manager sees no other store"
    );
    let row = between(&page.body, "<tr data-key=\"lane\">", "</tr>");
    let gmv_cell = between(row, "data-col=\"gmv\">", "<");
    assert_eq!(gmv_cell, "¥19.00");
    let csv = mgr
        .get(&format!("/console/analytics/sales/channels.csv?{q}"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = csv.body.trim_start_matches('\u{feff}');
    let lane_row = text
        .lines()
        .find(|l| l.starts_with("lane,"))
        .expect("the lane row");
    let cells: Vec<&str> = lane_row.split(',').collect();
    assert_eq!(&cells[..5], &["lane", "1", "19.00", "19.00", "3"]);
    // Every row of the page's channel table is a CSV row with the same figures.
    let table = between(&page.body, "<table id=\"by-channel\">", "</table>");
    for key in ["delivery", "pickup", "lane", "scan_and_go"] {
        let row = between(table, &format!("<tr data-key=\"{key}\">"), "</tr>");
        let csv_row: Vec<&str> = text
            .lines()
            .find(|l| l.starts_with(&format!("{key},")))
            .unwrap()
            .split(',')
            .collect();
        for (i, col) in ["orders", "gmv", "avg_basket", "items", "refunded", "margin"]
            .iter()
            .enumerate()
        {
            let cell = between(row, &format!("data-col=\"{col}\">"), "<").trim_start_matches('¥');
            let at = [1, 2, 3, 4, 7, 11][i];
            assert_eq!(cell, csv_row[at], "{key} {col}");
        }
    }
    let page = mgr.get("/console/analytics/sales?store=WH01").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let stores = office.get(&format!("/console/analytics/stores?{q}")).await;
    assert_eq!(stores.status, StatusCode::OK);
    assert!(
        stores.body.contains("data-key=\"WH01\"") && stores.body.contains("data-key=\"SH001\"")
    );
    let csv = office
        .get(&format!("/console/analytics/stores.csv?{q}"))
        .await;
    assert!(csv.body.contains("\nSH001,4,"), "{}", csv.body);
    let mut till = console(&app, "cashier1.sh001").await;
    let page = till.get("/console/analytics/sales").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    sales_are_rolled_up_once_and_refunds_subtract,
    sales_are_rolled_up_once_and_refunds_subtract
);

fn line_by<'a>(rows: &'a Value, key: &str) -> &'a Value {
    line(rows, key)
}

/// A person opens the sales page: the GMV chart (an SVG with its title and a point per day)
/// and the table under it, with the lane sale's figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sales_page_shows_its_chart_and_table_in_a_browser() {
    use crate::browser::{browser, browser_available, console_login, start_driver, text_of};
    use crate::sales::{push, register_lane, sale, sku_ids};
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane chart").await;
    let skus = sku_ids(&app, &admin, 1).await;
    let results = push(
        &app,
        &lane,
        &[sale("SH001", None, &[(&skus[0], 4, 250)], &[])],
    )
    .await;
    assert_eq!(results[0]["outcome"], json!("applied"));
    rollup(&app).await;

    let driver = start_driver().await;
    let client = browser(&driver, false).await;
    console_login(&client, &app, "admin").await;
    client
        .goto(&format!("{}/console/analytics/sales", app.url))
        .await
        .unwrap();
    let title = text_of(&client, "#chart-gmv svg title").await;
    assert!(title.contains("GMV"), "{title}");
    let points = client
        .find_all(fantoccini::Locator::Css("#chart-gmv circle.point"))
        .await
        .unwrap();
    // The default range: the last 30 days, a point each, for GMV and for net sales.
    assert_eq!(points.len(), 60);
    let svg = client
        .find(fantoccini::Locator::Css("#chart-gmv svg"))
        .await
        .unwrap();
    let rect = svg.rectangle().await.unwrap();
    assert!(
        rect.2 > 300.0 && rect.3 > 100.0,
        "the chart is drawn: {rect:?}"
    );
    let today_point = client
        .find(fantoccini::Locator::Css(&format!(
            "#chart-gmv g.series[data-series=GMV] circle[data-label='{}']",
            today()
        )))
        .await
        .unwrap();
    assert_eq!(
        today_point.attr("data-value").await.unwrap().as_deref(),
        Some("1000")
    );
    let lane_gmv = text_of(&client, "#by-channel tr[data-key=lane] td[data-col=gmv]").await;
    assert_eq!(lane_gmv, "¥10.00");
    let total = text_of(&client, "#series tr.total td[data-col=items]").await;
    assert_eq!(total, "4");
    let axis = text_of(&client, "#chart-gmv .y-axis-name").await;
    assert!(!axis.is_empty());
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::create_dir_all("/tmp/web-shots");
        let _ = std::fs::write("/tmp/web-shots/sales-analytics.png", png);
    }
    client.close().await.unwrap();
}
