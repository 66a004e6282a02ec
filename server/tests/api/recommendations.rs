//! Recommendations (issue 19, `app::recommendations`): known orders give an exact "bought
//! together" list (paid online orders and lane sales counted, unpaid and cancelled ones not,
//! pairs under the minimum support left out), "for you" leaves out what the member just
//! bought and what is out of stock at their store, an opted-out member gets nothing personal,
//! "similar items" share the category (same brand and price band first), and a re-run of the
//! job writes the same lists. In a real browser: the "为你推荐" and "常一起买" tiles on the home
//! and product pages, and a tile's click arrives as a tracked click with its list.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::support::{Backend, TestApp};
use crate::web::shopper;
use retail_server::app::recommendations as recs;
use retail_server::storage::recommendations::{self as store_recs, CatalogSku};

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    retail_server::storage::now_ms()
}

/// On-shelf SKUs of `n` different products, in a stable order.
async fn skus(app: &TestApp, n: usize) -> Vec<CatalogSku> {
    let all = store_recs::catalog(&app.state.store).await.unwrap();
    let mut seen = HashSet::new();
    let picked: Vec<CatalogSku> = all
        .into_iter()
        .filter(|s| seen.insert(s.product_id))
        .take(n)
        .collect();
    assert_eq!(picked.len(), n, "the demo catalog has {n} products");
    picked
}

async fn exec(app: &TestApp, sql: &str, binds: &[Option<String>], ints: &[i64]) {
    let mut tx = app.state.store.begin().await.unwrap();
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(b.clone());
    }
    for i in ints {
        q = q.bind(*i);
    }
    q.execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// An order of `skus` (one unit each) at `location`, created `days_ago` days ago.
async fn order(
    app: &TestApp,
    member: Option<&str>,
    channel: &str,
    status: &str,
    location: &str,
    skus: &[&CatalogSku],
    days_ago: i64,
) -> String {
    let id = Uuid::now_v7().to_string();
    let at = now() - days_ago * DAY;
    let fulfilment = if channel == "pos" {
        "in_store"
    } else {
        "pickup"
    };
    exec(
        app,
        "INSERT INTO orders (id, order_no, channel, fulfilment, status, location_id, member_id, \
         created_by, subtotal_fen, total_fen, client_ts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            Some(id.clone()),
            Some(format!("T{}", Uuid::now_v7().simple())),
            Some(channel.into()),
            Some(fulfilment.into()),
            Some(status.into()),
            Some(location.into()),
            member.map(str::to_owned),
            Some("test".into()),
        ],
        &[100, 100, at, at, at],
    )
    .await;
    for (i, s) in skus.iter().enumerate() {
        exec(
            app,
            "INSERT INTO order_lines (order_id, sku_id, name, line_no, qty, unit_price_fen, \
             amount_fen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                Some(id.clone()),
                Some(s.sku_id.to_string()),
                Some("item".into()),
            ],
            &[i as i64 + 1, 1, s.price_fen, s.price_fen],
        )
        .await;
    }
    id
}

/// `on_hand` units of `sku` at `location`, none reserved.
async fn stock(app: &TestApp, location: &str, sku: &CatalogSku, on_hand: i64) {
    exec(
        app,
        "INSERT INTO stock (location_id, sku_id, on_hand, reserved, low_stock_threshold, updated_at) \
         VALUES ($1, $2, $3, 0, 0, $4) ON CONFLICT (location_id, sku_id) \
         DO UPDATE SET on_hand = $3, reserved = 0",
        &[Some(location.into()), Some(sku.sku_id.to_string())],
        &[on_hand, now()],
    )
    .await;
}

async fn member_id(app: &TestApp, phone: &str) -> String {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT id FROM members WHERE phone_hash = $1")
        .bind(app.state.keys.lookup_hash(phone))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<String, _>(&row, "id")
}

/// Every list row: (kind, subject, rank, sku, score).
async fn all_rows(app: &TestApp) -> Vec<(String, String, i64, String, i64)> {
    let mut tx = app.state.store.begin().await.unwrap();
    let rows = sqlx::query(
        "SELECT kind, subject, rank, sku_id, score FROM rec_lists ORDER BY kind, subject, rank",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            use sqlx::Row;
            (
                r.get("kind"),
                r.get("subject"),
                r.get("rank"),
                r.get("sku_id"),
                r.get("score"),
            )
        })
        .collect()
}

fn ids(list: &[recs::Rec]) -> Vec<Uuid> {
    list.iter().map(|r| r.sku_id).collect()
}

async fn known_orders_give_the_exact_bought_together_list(app: TestApp) {
    let s = skus(&app, 5).await;
    let (a, b, c, d, e) = (&s[0], &s[1], &s[2], &s[3], &s[4]);
    // Sold: online orders paid or collected, lane sales (channel pos).
    order(&app, None, "online", "paid", "SH001", &[a, b], 3).await;
    order(&app, None, "pos", "completed", "SH001", &[a, b, c], 3).await;
    order(&app, None, "online", "picked_up", "SH002", &[a, c], 2).await;
    order(&app, None, "pos", "completed", "SH002", &[a, b], 1).await;
    order(&app, None, "online", "paid", "SH001", &[a, d], 1).await;
    // Not sold: never counted.
    order(&app, None, "online", "pending_payment", "SH001", &[a, e], 1).await;
    order(&app, None, "online", "cancelled", "SH001", &[a, e], 1).await;
    order(&app, None, "online", "cancelled", "SH001", &[a, e], 1).await;

    let report = recs::compute(&app.state).await.unwrap();
    assert_eq!(report.orders, 5, "{report:?}");
    // a in 5 orders, b in 3, c in 2; a+b 3 times, a+c twice; a+d and b+c once (under the
    // minimum support of 2); a+e never sold.
    let together = recs::bought_together(&app.state, a.sku_id, 10)
        .await
        .unwrap();
    assert_eq!(ids(&together), vec![b.sku_id, c.sku_id]);
    assert!(together.iter().all(|r| r.list == recs::TOGETHER));
    let scores: Vec<i64> =
        store_recs::list(&app.state.store, recs::TOGETHER, &a.sku_id.to_string(), 10)
            .await
            .unwrap()
            .iter()
            .map(|i| i.score)
            .collect();
    assert_eq!(scores, vec![774_597, 632_456], "3/√15 and 2/√10");
    assert_eq!(
        ids(&recs::bought_together(&app.state, b.sku_id, 10)
            .await
            .unwrap()),
        vec![a.sku_id]
    );
    assert_eq!(
        ids(&recs::bought_together(&app.state, c.sku_id, 10)
            .await
            .unwrap()),
        vec![a.sku_id]
    );
    assert!(recs::bought_together(&app.state, d.sku_id, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(recs::bought_together(&app.state, e.sku_id, 10)
        .await
        .unwrap()
        .is_empty());
    // The cart: what goes with its lines, not the lines themselves.
    let cart = recs::cart_together(&app.state, &[b.sku_id, c.sku_id], 10)
        .await
        .unwrap();
    assert_eq!(ids(&cart), vec![a.sku_id]);

    // The product page shows them, marked for click-through.
    let mut shop = crate::web::Browser::new(&app);
    let page = shop
        .get(&format!("/p/{}?sku={}", a.product_id, a.sku_id))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("id=\"bought-together\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("常一起买"));
    assert!(page.body.contains(&format!(
        "data-track=\"recommendation\" data-track-list=\"together\" data-track-sku=\"{}\"",
        b.sku_id
    )));
}
crate::both_backends!(
    known_orders_give_the_exact_bought_together_list,
    known_orders_give_the_exact_bought_together_list
);

async fn for_you_leaves_out_what_was_just_bought_and_what_is_out_of_stock(app: TestApp) {
    let s = skus(&app, 4).await;
    let (a, b, c, d) = (&s[0], &s[1], &s[2], &s[3]);
    for sku in [a, b, c, d] {
        stock(&app, "SH001", sku, 20).await;
    }
    for _ in 0..2 {
        order(&app, None, "pos", "completed", "SH002", &[a, b], 5).await;
        order(&app, None, "pos", "completed", "SH002", &[a, c], 5).await;
        order(&app, None, "pos", "completed", "SH002", &[a, d], 5).await;
    }
    let mut shop = shopper(&app, "13800510001").await;
    let member = member_id(&app, "13800510001").await;
    // The member bought a a month ago (outside the 14 days left out).
    order(
        &app,
        Some(&member),
        "online",
        "picked_up",
        "SH001",
        &[a],
        30,
    )
    .await;
    recs::compute(&app.state).await.unwrap();
    let m: Uuid = member.parse().unwrap();
    let before = recs::for_you(&app.state, m, "SH001", 10).await.unwrap();
    let personal: Vec<Uuid> = before
        .iter()
        .filter(|r| r.list == recs::FOR_YOU)
        .map(|r| r.sku_id)
        .collect();
    for sku in [b, c, d] {
        assert!(personal.contains(&sku.sku_id), "{before:?}");
    }

    // Just bought b (after the run), d sold out at the member's store.
    order(&app, Some(&member), "online", "paid", "SH001", &[b], 0).await;
    stock(&app, "SH001", d, 0).await;
    let after = recs::for_you(&app.state, m, "SH001", 10).await.unwrap();
    let shown = ids(&after);
    assert!(!shown.contains(&b.sku_id), "just bought: {after:?}");
    assert!(!shown.contains(&d.sku_id), "out of stock: {after:?}");
    assert!(after
        .iter()
        .any(|r| r.sku_id == c.sku_id && r.list == recs::FOR_YOU));
    // Elsewhere d is in stock (SH002 keeps what the demo has, or none): the store decides.
    stock(&app, "SH002", d, 5).await;
    stock(&app, "SH002", c, 5).await;
    let there = recs::for_you(&app.state, m, "SH002", 10).await.unwrap();
    assert!(there.iter().any(|r| r.sku_id == d.sku_id), "{there:?}");

    // The home page at the member's chosen store.
    let page = shop
        .post_csrf("/pickup-store", &[("store", "SH001"), ("back", "/")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let home = shop.get("/").await;
    assert!(home.body.contains("id=\"for-you\""), "{}", home.body);
    assert!(home.body.contains("为你推荐"));
    let section = &home.body[home.body.find("id=\"for-you\"").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(section.contains(&c.sku_id.to_string()));
    assert!(!section.contains(&b.sku_id.to_string()));
    assert!(!section.contains(&d.sku_id.to_string()));
}
crate::both_backends!(
    for_you_leaves_out_what_was_just_bought_and_what_is_out_of_stock,
    for_you_leaves_out_what_was_just_bought_and_what_is_out_of_stock
);

async fn an_opted_out_member_gets_nothing_personal(app: TestApp) {
    let s = skus(&app, 3).await;
    let (a, b, c) = (&s[0], &s[1], &s[2]);
    for sku in [a, b, c] {
        stock(&app, "SH001", sku, 20).await;
    }
    for _ in 0..2 {
        order(&app, None, "pos", "completed", "SH001", &[a, b], 5).await;
    }
    let mut shop = shopper(&app, "13800510002").await;
    let member = member_id(&app, "13800510002").await;
    order(
        &app,
        Some(&member),
        "online",
        "picked_up",
        "SH001",
        &[a, c],
        30,
    )
    .await;
    // The member views b's page (a tracked page view of theirs).
    let page = shop
        .post_body(
            "/api/v1/events",
            "text/plain",
            serde_json::json!({"events": [{
                "id": Uuid::now_v7(), "name": "page_view", "v": 1, "ts": now(),
                "device": Uuid::new_v4(), "page": format!("/p/{}", b.product_id),
                "channel": "online", "props": {"dwell_ms": 1000},
            }]})
            .to_string(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    recs::compute(&app.state).await.unwrap();
    let m: Uuid = member.parse().unwrap();
    assert!(
        !store_recs::list(&app.state.store, recs::FOR_YOU, &member, 50)
            .await
            .unwrap()
            .is_empty()
    );

    let page = shop
        .post_csrf("/pickup-store", &[("store", "SH001"), ("back", "/")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = shop.post_csrf("/me/personalisation", &[("out", "1")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // At once: nothing personal served, popular only.
    let got = recs::for_you(&app.state, m, "SH001", 10).await.unwrap();
    assert!(got.iter().all(|r| r.list == recs::POPULAR), "{got:?}");
    let home = shop.get("/").await;
    assert!(!home.body.contains("id=\"for-you\""));
    assert!(home.body.contains("id=\"popular-here\""), "{}", home.body);
    // And the next run keeps no list for them.
    recs::compute(&app.state).await.unwrap();
    assert!(
        store_recs::list(&app.state.store, recs::FOR_YOU, &member, 50)
            .await
            .unwrap()
            .is_empty()
    );
}
crate::both_backends!(
    an_opted_out_member_gets_nothing_personal,
    an_opted_out_member_gets_nothing_personal
);

async fn similar_items_share_the_category_then_brand_and_price_band(app: TestApp) {
    recs::compute(&app.state).await.unwrap();
    let all = store_recs::catalog(&app.state.store).await.unwrap();
    let by_sku = |id: Uuid| all.iter().find(|s| s.sku_id == id).unwrap();
    let mut checked = 0;
    for sku in &all {
        let list = recs::similar(&app.state, sku.sku_id, 20).await.unwrap();
        if list.is_empty() {
            continue;
        }
        checked += 1;
        let mut last = (true, true);
        for r in &list {
            let other = by_sku(r.sku_id);
            assert_eq!(other.category_id, sku.category_id, "same category");
            assert_ne!(other.product_id, sku.product_id, "another product");
            let (lo, hi) = (
                sku.price_fen.min(other.price_fen),
                sku.price_fen.max(other.price_fen),
            );
            let key = (
                !sku.brand.is_empty() && other.brand == sku.brand,
                hi == 0 || (lo > 0 && hi * 2 <= lo * 3),
            );
            assert!(key <= last, "same brand, then same band first: {list:?}");
            last = key;
        }
    }
    assert!(
        checked > 0,
        "the demo catalog has categories with several products"
    );
}
crate::both_backends!(
    similar_items_share_the_category_then_brand_and_price_band,
    similar_items_share_the_category_then_brand_and_price_band
);

async fn a_rerun_of_the_job_writes_the_same_lists(app: TestApp) {
    let s = skus(&app, 3).await;
    let (a, b, c) = (&s[0], &s[1], &s[2]);
    let member = Uuid::now_v7().to_string();
    exec(
        &app,
        "INSERT INTO members (id, phone_hash, phone_enc, created_at) VALUES ($1, $2, $3, $4)",
        &[
            Some(member.clone()),
            Some(format!("h{member}")),
            Some("x".into()),
        ],
        &[now()],
    )
    .await;
    order(&app, Some(&member), "online", "paid", "SH001", &[a, b], 2).await;
    let gone = order(&app, None, "pos", "completed", "SH001", &[a, b, c], 2).await;
    order(&app, None, "pos", "completed", "SH001", &[a, c], 1).await;
    let first = recs::compute(&app.state).await.unwrap();
    let rows = all_rows(&app).await;
    assert!(!rows.is_empty());
    let second = recs::compute(&app.state).await.unwrap();
    assert!(second.run_id > first.run_id);
    assert_eq!(all_rows(&app).await, rows, "the same lists");
    assert_eq!(second.rows, first.rows);

    // An order cancelled since: its pairs drop under the support, their lists go.
    exec(
        &app,
        "UPDATE orders SET status = 'cancelled' WHERE id = $1",
        &[Some(gone)],
        &[],
    )
    .await;
    recs::compute(&app.state).await.unwrap();
    assert!(recs::bought_together(&app.state, c.sku_id, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(all_rows(&app)
        .await
        .iter()
        .all(|r| r.0 != recs::TOGETHER || r.1 != c.sku_id.to_string()));
}
crate::both_backends!(
    a_rerun_of_the_job_writes_the_same_lists,
    a_rerun_of_the_job_writes_the_same_lists
);

/// Stocks `sku` at every location.
async fn stock_everywhere(app: &TestApp, sku: &CatalogSku) {
    for loc in ["SH001", "SH002"] {
        stock(app, loc, sku, 30).await;
    }
    let warehouse = retail_server::app::checkout::default_delivery_location(&app.state)
        .await
        .unwrap();
    stock(app, &warehouse, sku, 30).await;
}

/// In a real browser: a member sees "为你推荐" tiles on the home page and "常一起买" on a
/// product page; tapping a "bought together" tile sends a tracked click with its list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sees_the_tiles_and_a_tap_is_a_tracked_click() {
    use crate::browser::{
        browser, browser_available, click_to_next_page, shopper_login, start_driver, wait_for_text,
    };
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let s = skus(&app, 3).await;
    let (a, b, c) = (&s[0], &s[1], &s[2]);
    for sku in [a, b, c] {
        stock_everywhere(&app, sku).await;
    }
    for _ in 0..2 {
        order(&app, None, "pos", "completed", "SH001", &[a, b], 3).await;
        order(&app, None, "pos", "completed", "SH001", &[a, c], 3).await;
    }
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    shopper_login(&phone, &app, "13800510009", "/").await;
    let member = member_id(&app, "13800510009").await;
    order(
        &app,
        Some(&member),
        "online",
        "picked_up",
        "SH001",
        &[a],
        30,
    )
    .await;
    recs::compute(&app.state).await.unwrap();

    phone.goto(&format!("{}/", app.url)).await.unwrap();
    wait_for_text(&phone, "#for-you h2", "为你推荐").await;
    let tiles = phone
        .find_all(fantoccini::Locator::Css("#for-you a.rec-tile"))
        .await
        .unwrap();
    assert!(!tiles.is_empty());

    phone
        .goto(&format!("{}/p/{}?sku={}", app.url, a.product_id, a.sku_id))
        .await
        .unwrap();
    wait_for_text(&phone, "#bought-together h2", "常一起买").await;
    click_to_next_page(&phone, "#bought-together a.rec-tile").await;
    let device = phone
        .execute("return localStorage.getItem('rt_device');", vec![])
        .await
        .unwrap();
    let device = device.as_str().expect("a device id").to_owned();
    let mut found = None;
    for _ in 0..300 {
        let mut tx = app.state.store.begin().await.unwrap();
        let rows = sqlx::query(
            "SELECT props, member_id FROM events WHERE device_id = $1 AND name = 'click'",
        )
        .bind(device.clone())
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        drop(tx);
        if let Some(r) = rows.first() {
            use sqlx::Row;
            let props: String = r.get("props");
            let who: Option<String> = r.get("member_id");
            found = Some((serde_json::from_str::<Value>(&props).unwrap(), who));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (click, who) = found.expect("the tile's click arrived");
    assert_eq!(click["target"], "recommendation", "{click}");
    assert_eq!(click["list"], "together", "{click}");
    let sku = click["sku"].as_str().unwrap();
    assert!(
        sku == b.sku_id.to_string() || sku == c.sku_id.to_string(),
        "{click}"
    );
    assert_eq!(who.as_deref(), Some(member.as_str()));

    // Head office sees the click-through per list.
    let admin = crate::browser::browser(&driver, false).await;
    crate::browser::console_login(&admin, &app, "admin").await;
    admin
        .goto(&format!("{}/console/recommendations", app.url))
        .await
        .unwrap();
    wait_for_text(
        &admin,
        "#click-through tr[data-list='together'] td.clicks",
        "1",
    )
    .await;
    let shown = crate::browser::text_of(
        &admin,
        "#click-through tr[data-list='together'] td.impressions",
    )
    .await;
    assert!(shown.trim().parse::<i64>().unwrap() >= 1, "{shown}");
    admin.close().await.unwrap();
    phone.close().await.unwrap();
}
