//! Every list in the shop and the console pages through the whole data set (issue 16): more
//! rows than one page, walked through the HTML's "Next page" links (and the API's
//! `next_cursor`), each row exactly once and in order (ties broken by id), the filters kept from
//! page to page, a "First page" link past the first; a forged cursor is a 400 (page, or the
//! API's `bad_cursor`); the console's CSV export has every matching order, not one page of them.
//! The lists: orders (shop, console), member ledgers, stock levels, promotions, coupon templates,
//! the coupon centre, a member's coupons, recharges, the after-sales queue, the refund approval
//! queue, and the dashboard's count of orders awaiting pickup.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_backends;
use crate::support::TestApp;
use crate::web::{console, shopper, Browser};

/// The member logged in with this phone.
async fn member_of(app: &TestApp, phone: &str) -> Uuid {
    let state = &app.state;
    retail_server::storage::members::by_phone(
        &state.store,
        &state.keys,
        &state.settings.points,
        phone,
    )
    .await
    .unwrap()
    .expect("the shopper is a member")
    .id
}

/// Writes `values` (each `(…)`) into `table` (`name (columns)`) in one transaction, 200 a
/// statement.
async fn insert_rows(app: &TestApp, table: &str, values: &[String]) {
    let mut tx = app.state.store.begin().await.unwrap();
    for chunk in values.chunks(200) {
        sqlx::query(&format!("INSERT INTO {table} VALUES {}", chunk.join(", ")))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The `id` column of every row `sql` selects, in its order: what a list should show.
async fn ids_of(app: &TestApp, sql: &str) -> Vec<String> {
    let mut tx = app.state.store.begin().await.unwrap();
    let rows = sqlx::query(sql).fetch_all(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    rows.iter()
        .map(|row| sqlx::Row::get::<String, _>(row, "id"))
        .collect()
}

/// One order written straight into the table, for a list to show.
struct Seeded {
    id: Uuid,
    status: &'static str,
    created_at: i64,
}

/// Writes `n` orders numbered `{prefix}{location}-{i}` at `location` (for `member`, when given), three at
/// a time with the same creation time (the id breaks the tie), every third cancelled and the
/// rest paid; answers them newest first, as the lists show them.
async fn seed_orders(
    app: &TestApp,
    prefix: &str,
    location: &str,
    member: Option<Uuid>,
    n: usize,
) -> Vec<Seeded> {
    let base = retail_server::storage::now_ms() - 10_000_000;
    let mut seeded = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let order = Seeded {
            id: Uuid::now_v7(),
            status: if i % 3 == 2 { "cancelled" } else { "paid" },
            created_at: base + (i as i64 / 3) * 1_000,
        };
        let member = member.map_or("NULL".to_owned(), |m| format!("'{m}'"));
        values.push(format!(
            "('{}', '{prefix}{location}-{i:05}', 'online', 'pickup', '{}', '{location}', {member}, 100, 0, 100, \
             'test', {at}, {at}, {at})",
            order.id,
            order.status,
            at = order.created_at
        ));
        seeded.push(order);
    }
    insert_rows(
        app,
        "orders (id, order_no, channel, fulfilment, status, location_id, member_id, subtotal_fen, \
         discount_fen, total_fen, created_by, client_ts, created_at, updated_at)",
        &values,
    )
    .await;
    seeded.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id)));
    seeded
}

/// Every `{start}…"` in the page (the ids a list links to, in page order).
fn links<'a>(body: &'a str, start: &str) -> Vec<&'a str> {
    body.match_indices(start)
        .map(|(at, _)| {
            let rest = &body[at + start.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

/// The address of the link with this id, if the page has it.
fn link(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let rest = &body[at..];
    let href = &rest[rest.find("href=\"").unwrap() + 6..];
    Some(href[..href.find('"').unwrap()].replace("&amp;", "&"))
}

/// Walks a list from `first` by its `{param}-next` links; answers the rows each page shows
/// (`row` picks them out of a page) and the addresses visited. Every page past the first has a
/// `{param}-first` link back to `first_link`, and the last has no next link.
async fn walk(
    b: &mut Browser,
    first: &str,
    param: &str,
    first_link: &str,
    row: impl Fn(&str) -> Vec<String>,
) -> (Vec<Vec<String>>, Vec<String>) {
    let (mut pages, mut visited) = (Vec::new(), Vec::new());
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        assert!(pages.len() < 50, "the pages never end");
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let back = link(&page.body, &format!("{param}-first"));
        if visited.is_empty() {
            assert_eq!(back, None, "no first-page link on the first page");
        } else {
            assert_eq!(back.as_deref(), Some(first_link), "{path}");
        }
        pages.push(row(&page.body));
        visited.push(path);
        next = link(&page.body, &format!("{param}-next"));
    }
    (pages, visited)
}

fn ids(seeded: &[Seeded], status: Option<&str>) -> Vec<String> {
    seeded
        .iter()
        .filter(|o| status.is_none_or(|s| o.status == s))
        .map(|o| o.id.to_string())
        .collect()
}

fn flat(pages: &[Vec<String>]) -> Vec<String> {
    let all: Vec<String> = pages.concat();
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        all.len(),
        "no row twice"
    );
    all
}

async fn orders_page_through_every_row(app: TestApp) {
    let phone = "13800138061";
    let mut shop = shopper(&app, phone).await;
    let member = member_of(&app, phone).await;
    let mine = seed_orders(&app, "PAGEM", "SH001", Some(member), 120).await;

    // The shopper's orders: 120 on pages of 50.
    let order_links = |body: &str| {
        links(body, "href=\"/orders/")
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let (pages, _) = walk(&mut shop, "/orders", "cursor", "/orders", order_links).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![50, 50, 20]
    );
    assert_eq!(
        flat(&pages),
        ids(&mine, None),
        "every order once, newest first"
    );
    // A tab is a filter the pages keep: 80 paid orders under "to ship".
    let (pages, visited) = walk(
        &mut shop,
        "/orders?tab=ship",
        "cursor",
        "/orders?tab=ship",
        order_links,
    )
    .await;
    assert_eq!(flat(&pages), ids(&mine, Some("paid")));
    assert!(visited[1..]
        .iter()
        .all(|p| p.starts_with("/orders?tab=ship&cursor=")));
    // 40 cancelled ones fit on one page: no next link.
    let (pages, _) = walk(
        &mut shop,
        "/orders?tab=after",
        "cursor",
        "/orders?tab=after",
        order_links,
    )
    .await;
    assert_eq!(pages.len(), 1);
    assert_eq!(flat(&pages), ids(&mine, Some("cancelled")));

    // The console: filtered by number, status and store; the filters ride along.
    let others = seed_orders(&app, "PAGEM", "SH002", None, 30).await;
    let mut admin = console(&app, "admin").await;
    let console_links = |body: &str| {
        links(body, "href=\"/console/orders/")
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let first = "/console/orders?status=paid&store=SH001&q=pagem";
    let (pages, visited) = walk(&mut admin, first, "cursor", first, console_links).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(flat(&pages), ids(&mine, Some("paid")));
    assert!(visited[1..]
        .iter()
        .all(|p| p.starts_with(&format!("{first}&cursor="))));
    // Both stores: 150 in order of time over three pages.
    let mut both: Vec<&Seeded> = mine.iter().chain(&others).collect();
    both.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id)));
    let first = "/console/orders?q=PAGEM";
    let (pages, _) = walk(&mut admin, first, "cursor", first, console_links).await;
    let expected: Vec<String> = both.iter().map(|o| o.id.to_string()).collect();
    assert_eq!(flat(&pages), expected);
    // A store manager sees their own store's, paged the same way.
    let mut manager = console(&app, "mgr.sh001").await;
    let first = "/console/orders?q=PAGEM";
    let (pages, _) = walk(&mut manager, first, "cursor", first, console_links).await;
    assert_eq!(flat(&pages), ids(&mine, None));

    // A cursor that is not one: a 400 page saying so, in the shop and the console.
    for (shopper, path) in [
        (true, "/orders?cursor=garbage"),
        (true, "/orders?tab=ship&cursor=%FF%FE"),
        (false, "/console/orders?cursor=eyJ4IjoxfQ"),
    ] {
        let b = if shopper { &mut shop } else { &mut admin };
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.body.contains("翻页链接无效"), "{path}: {}", page.body);
        assert!(page.body.contains("start again from the first page"));
    }
}
both_backends!(orders_page_through_every_row, orders_page_through_every_row);

/// The CSV export has every matching order (more than the export reads at a time), not one
/// page of them, with its filters.
async fn orders_csv_exports_every_match(app: TestApp) {
    let seeded = seed_orders(&app, "CSVALL", "SH002", None, 1_234).await;
    let mut admin = console(&app, "admin").await;
    let csv = admin.get("/console/orders.csv?q=csvall").await;
    assert_eq!(csv.status, StatusCode::OK);
    let numbers: Vec<&str> = csv
        .body
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(numbers.len(), 1_234);
    assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), 1_234);
    let csv = admin
        .get("/console/orders.csv?q=CSVALL&status=cancelled&store=SH002")
        .await;
    assert_eq!(
        csv.body.lines().count() - 1,
        seeded.iter().filter(|o| o.status == "cancelled").count()
    );
}
both_backends!(
    orders_csv_exports_every_match,
    orders_csv_exports_every_match
);

/// A member's points ledger pages in the console and in the shop; the other ledger's place is
/// kept.
async fn member_ledgers_page(app: TestApp) {
    let phone = "13800138062";
    let mut shop = shopper(&app, phone).await;
    let member = member_of(&app, phone).await;
    let base = retail_server::storage::now_ms() - 1_000_000;
    let mut rows = Vec::new();
    for i in 0..120_i64 {
        let id = Uuid::now_v7();
        rows.push((base + i / 4, id, format!("paging-{i:03}")));
    }
    let values: Vec<String> = rows
        .iter()
        .map(|(at, id, reason)| {
            format!("('{id}', '{member}', 1, 'adjust', '{reason}', 'test', {at})")
        })
        .collect();
    insert_rows(
        &app,
        "points_ledger (id, member_id, delta, kind, reason, actor, created_at)",
        &values,
    )
    .await;
    rows.sort_by_key(|r| std::cmp::Reverse((r.0, r.1)));
    let expected: Vec<String> = rows.into_iter().map(|(_, _, r)| r).collect();
    // The reasons, in page order.
    let row = |body: &str| {
        body.match_indices("paging-")
            .map(|(at, _)| body[at..at + 10].to_owned())
            .collect::<Vec<_>>()
    };

    let mut admin = console(&app, "admin").await;
    let path = format!("/console/members/{member}");
    let (pages, _) = walk(&mut admin, &path, "points", &path, row).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(flat(&pages), expected);
    let (pages, _) = walk(&mut shop, "/me", "points", "/me", row).await;
    assert_eq!(flat(&pages), expected);

    // A bad cursor in either ledger is a 400.
    let page = admin.get(&format!("{path}?balance=nope")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = shop.get("/me/balance?cursor=nope").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}
both_backends!(member_ledgers_page, member_ledgers_page);

/// The console's stock levels page through every SKU of a location, in (location, SKU) order
/// (120 SKUs of its own with a stock row at SH001 besides the demo chain's: at least three
/// pages); the movements and approval queue refuse a forged cursor.
async fn stock_levels_page(app: TestApp) {
    let now = retail_server::storage::now_ms();
    let category = ids_of(&app, "SELECT id FROM categories ORDER BY id").await[0].clone();
    let product = Uuid::now_v7();
    insert_rows(
        &app,
        "products (id, code, name_zh, name_en, category_id, created_at, updated_at)",
        &[format!(
            "('{product}', 'PAGESTOCK', '翻页库存', 'Paging stock', '{category}', {now}, {now})"
        )],
    )
    .await;
    let skus: Vec<Uuid> = (0..120).map(|_| Uuid::now_v7()).collect();
    let values: Vec<String> = skus
        .iter()
        .enumerate()
        .map(|(i, sku)| format!("('{sku}', '{product}', 'PAGESTOCK-{i:03}', 100, {now}, {now})"))
        .collect();
    insert_rows(
        &app,
        "skus (id, product_id, sku_code, price_fen, created_at, updated_at)",
        &values,
    )
    .await;
    let values: Vec<String> = skus
        .iter()
        .map(|sku| format!("('SH001', '{sku}', 0, 0, {now})"))
        .collect();
    insert_rows(
        &app,
        "stock (location_id, sku_id, on_hand, reserved, updated_at)",
        &values,
    )
    .await;
    let all = retail_server::storage::stock::list_levels(
        &app.state.store,
        &retail_server::storage::stock::LevelFilter {
            location_id: Some("SH001".into()),
            limit: 100_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let expected: Vec<String> = all.iter().map(|l| l.sku_id.to_string()).collect();
    let mut admin = console(&app, "admin").await;
    let first = "/console/stock?location=SH001";
    let sku_rows = |body: &str| {
        links(body, "&amp;sku=")
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let (pages, _) = walk(&mut admin, first, "cursor", first, sku_rows).await;
    assert!(pages.len() >= 3, "{} pages", pages.len());
    assert_eq!(pages.len(), expected.len().div_ceil(50));
    assert_eq!(flat(&pages), expected, "every SKU once, in order");
    let shown: HashSet<String> = pages.concat().into_iter().collect();
    assert!(skus.iter().all(|s| shown.contains(&s.to_string())));
    for path in [
        "/console/stock?cursor=nope",
        "/console/stock?transfers=nope",
        "/console/stock/movements?location=SH001&cursor=nope",
        "/console/payments/approvals?cursor=nope",
    ] {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
    }
}
both_backends!(stock_levels_page, stock_levels_page);

/// Walks an API list from `path` (with its query) by `next_cursor`: the ids (`id` picks one out
/// of an item) of each page. Every page but the last is full (`limit` in `path`).
async fn api_walk(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    id: impl Fn(&Value) -> String,
) -> Vec<Vec<String>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut pages = Vec::new();
    let mut next: Option<String> = None;
    loop {
        assert!(pages.len() < 50, "the pages never end");
        let url = match &next {
            Some(cursor) => format!("{path}{sep}cursor={cursor}"),
            None => path.to_owned(),
        };
        let (status, body) = app.get(&url, token).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        pages.push(body["items"].as_array().unwrap().iter().map(&id).collect());
        match body["next_cursor"].as_str() {
            Some(cursor) => next = Some(cursor.to_owned()),
            None => {
                assert!(body.get("next_cursor").is_none_or(Value::is_null));
                return pages;
            }
        }
    }
}

/// The `id` of an API item.
fn item_id(item: &Value) -> String {
    item["id"].as_str().unwrap().to_owned()
}

/// `path` answers 400 `bad_cursor` to the API client `token`.
async fn api_refuses_cursor(app: &TestApp, token: Option<&str>, path: &str) {
    let (status, body) = app.get(path, token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    assert_eq!(body["error"]["code"], "bad_cursor", "{path}: {body}");
}

/// What follows each `start` in the page up to the next `"` (the rows of a list: an
/// attribute's values, an id's tail), in page order.
fn rows_after(start: &str) -> impl Fn(&str) -> Vec<String> + '_ {
    move |body: &str| links(body, start).into_iter().map(str::to_owned).collect()
}

/// Promotions in the console and the API: current ones by default, every one with the filter
/// (`all=1` / `current=false`), each once, newest first.
async fn promotions_page(app: TestApp) {
    let token = app.login("admin").await;
    let now = retail_server::storage::now_ms();
    // One made through the API: the shape of the rows written below.
    let first = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/promotions",
            Some(&token),
            json!({ "promotion": {
                "id": first, "name_zh": "满减", "name_en": "spend and save",
                "starts_at": chrono::Utc::now() - chrono::Duration::hours(1),
                "ends_at": chrono::Utc::now() + chrono::Duration::days(7),
                "rule": { "kind": "full_reduction", "tiers": [{ "threshold": "500.00", "reduction": "1.00" }] }
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let shape = body["promotion"].clone();
    let base = now - 10_000_000;
    let values: Vec<String> = (0..120_i64)
        .map(|i| {
            let id = Uuid::now_v7();
            let mut promotion = shape.clone();
            promotion["id"] = json!(id);
            let text = promotion.to_string();
            assert!(!text.contains('\''));
            let at = base + i / 3 * 1_000;
            let ended = if i % 3 == 0 {
                at.to_string()
            } else {
                "NULL".into()
            };
            format!(
                "('{id}', '{text}', {at}, {}, {ended}, 'test', {at}, {at})",
                now + 86_400_000
            )
        })
        .collect();
    insert_rows(
        &app,
        "promotions (id, body, starts_at, ends_at, ended_at, created_by, created_at, updated_at)",
        &values,
    )
    .await;
    let every = ids_of(
        &app,
        "SELECT id FROM promotions ORDER BY created_at DESC, id DESC",
    )
    .await;
    let current = ids_of(
        &app,
        &format!(
            "SELECT id FROM promotions WHERE ended_at IS NULL AND ends_at > {now} \
             ORDER BY created_at DESC, id DESC"
        ),
    )
    .await;
    assert!(current.len() > 50 && every.len() > 100);

    let mut admin = console(&app, "admin").await;
    let rows = rows_after("data-promotion=\"");
    let (pages, _) = walk(
        &mut admin,
        "/console/promotions",
        "cursor",
        "/console/promotions",
        &rows,
    )
    .await;
    assert_eq!(pages.len(), current.len().div_ceil(50));
    assert_eq!(flat(&pages), current);
    let first_page = "/console/promotions?all=1";
    let (pages, visited) = walk(&mut admin, first_page, "cursor", first_page, &rows).await;
    assert_eq!(pages.len(), every.len().div_ceil(50));
    assert_eq!(flat(&pages), every);
    assert!(visited[1..]
        .iter()
        .all(|p| p.starts_with("/console/promotions?all=1&cursor=")));

    let promotion_id = |p: &Value| p["promotion"]["id"].as_str().unwrap().to_owned();
    let pages = api_walk(
        &app,
        Some(&token),
        "/api/v1/promotions?limit=40",
        promotion_id,
    )
    .await;
    assert_eq!(flat(&pages), current);
    let pages = api_walk(
        &app,
        Some(&token),
        "/api/v1/promotions?current=false&limit=45",
        promotion_id,
    )
    .await;
    assert_eq!(pages[0].len(), 45);
    assert_eq!(flat(&pages), every);

    api_refuses_cursor(&app, Some(&token), "/api/v1/promotions?cursor=nope").await;
    let page = admin.get("/console/promotions?all=1&cursor=nope").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}
both_backends!(promotions_page, promotions_page);

/// Coupon templates (console, API), the coupon centre (shop, API) and a member's coupons (the
/// shop's two lists, the API) page through every row; each list's place is kept by the other.
async fn coupons_page(app: TestApp) {
    let phone = "13800138063";
    let mut shop = shopper(&app, phone).await;
    let member = member_of(&app, phone).await;
    let token = app.login("admin").await;
    let now = retail_server::storage::now_ms();
    let base = now - 10_000_000;
    // 120 templates: every other one claimable in the coupon centre, the rest issued by staff.
    let mut templates = Vec::new();
    let values: Vec<String> = (0..120_i64)
        .map(|i| {
            let id = Uuid::now_v7();
            templates.push(id);
            let how = if i % 2 == 0 { "claim" } else { "staff" };
            let at = base + i / 3 * 1_000;
            format!(
                "('{id}', '{{\"name_zh\":\"PAGEC-{i:03}\",\"rule\":{{\"kind\":\"threshold\",\
                 \"min_spend\":\"200.00\",\"amount\":\"20.00\"}}}}', '{how}', {base}, {}, NULL, 1, \
                 NULL, 'test', {at})",
                now + 86_400_000
            )
        })
        .collect();
    insert_rows(
        &app,
        "coupon_templates (id, body, issue_on, valid_from, valid_until, valid_days, \
         per_member_limit, stock_total, created_by, created_at)",
        &values,
    )
    .await;
    let every = ids_of(
        &app,
        "SELECT id FROM coupon_templates ORDER BY created_at DESC, id DESC",
    )
    .await;
    let claimable = ids_of(
        &app,
        &format!(
            "SELECT id FROM coupon_templates WHERE issue_on = 'claim' AND ended_at IS NULL \
             AND valid_from <= {now} AND valid_until > {now} ORDER BY created_at DESC, id DESC"
        ),
    )
    .await;
    assert!(every.len() >= 120 && claimable.len() >= 60);

    let mut admin = console(&app, "admin").await;
    let rows = rows_after("data-template=\"");
    let (pages, _) = walk(
        &mut admin,
        "/console/coupons",
        "cursor",
        "/console/coupons",
        &rows,
    )
    .await;
    assert_eq!(pages.len(), every.len().div_ceil(50));
    assert_eq!(flat(&pages), every);
    let (pages, _) = walk(&mut shop, "/coupons", "cursor", "/coupons", &rows).await;
    assert_eq!(pages.len(), claimable.len().div_ceil(50));
    assert_eq!(flat(&pages), claimable);
    let pages = api_walk(
        &app,
        Some(&token),
        "/api/v1/coupon-templates?limit=70",
        item_id,
    )
    .await;
    assert_eq!(flat(&pages), every);
    let pages = api_walk(&app, None, "/api/v1/coupons/centre?limit=25", item_id).await;
    assert_eq!(flat(&pages), claimable);

    // 160 coupons of the member: a quarter used, a quarter expired, half usable.
    let values: Vec<String> = (0..160_i64)
        .map(|i| {
            let (status, until) = match i % 4 {
                0 => ("used", now + 86_400_000),
                1 => ("available", now - 1_000),
                _ => ("available", now + 86_400_000),
            };
            format!(
                "('{}', '{}', '{member}', {base}, {until}, '{status}', 'test', {})",
                Uuid::now_v7(),
                templates[0],
                base + i / 2 * 1_000
            )
        })
        .collect();
    insert_rows(
        &app,
        "coupons (id, template_id, member_id, valid_from, valid_until, status, issued_by, issued_at)",
        &values,
    )
    .await;
    let of_member = |condition: &str| {
        format!(
            "SELECT id FROM coupons WHERE member_id = '{member}' AND {condition} \
             ORDER BY issued_at DESC, id DESC"
        )
    };
    let usable = ids_of(
        &app,
        &of_member(&format!("status = 'available' AND valid_until > {now}")),
    )
    .await;
    let spent = ids_of(
        &app,
        &of_member(&format!("(status <> 'available' OR valid_until <= {now})")),
    )
    .await;
    let all = ids_of(&app, &of_member("1 = 1")).await;
    assert!(usable.len() >= 80 && spent.len() >= 80);

    let usable_rows = rows_after("href=\"/cart\" data-coupon=\"");
    let (pages, visited) = walk(
        &mut shop,
        "/me/coupons",
        "usable",
        "/me/coupons",
        &usable_rows,
    )
    .await;
    assert_eq!(pages.len(), usable.len().div_ceil(50));
    assert_eq!(flat(&pages), usable);
    let page = shop.get(&visited[1]).await;
    assert!(
        page.body.contains(&format!(
            "<span id=\"usable-count\">{}</span>",
            usable.len()
        )),
        "the count of every usable coupon, not of a page"
    );
    // The used and expired ones, from the usable list's second page: its place is kept.
    let from = visited[1].clone();
    let spent_rows = rows_after("class=\"status cancelled\" data-coupon=\"");
    let (pages, visited) = walk(&mut shop, &from, "spent", &from, &spent_rows).await;
    assert_eq!(flat(&pages), spent);
    assert!(visited[1..]
        .iter()
        .all(|p| p.starts_with(&format!("{from}&spent="))));

    let path = format!("/api/v1/members/{member}/coupons");
    let pages = api_walk(&app, Some(&token), &format!("{path}?limit=64"), item_id).await;
    assert_eq!(flat(&pages), all);
    let pages = api_walk(
        &app,
        Some(&token),
        &format!("{path}?available=true&limit=30"),
        item_id,
    )
    .await;
    assert_eq!(flat(&pages), usable);

    for path in [
        "/api/v1/coupon-templates?cursor=nope",
        &format!("{path}?cursor=nope"),
    ] {
        api_refuses_cursor(&app, Some(&token), path).await;
    }
    api_refuses_cursor(&app, None, "/api/v1/coupons/centre?cursor=%FF").await;
    for (b, path) in [
        (&mut admin, "/console/coupons?cursor=nope"),
        (&mut shop, "/coupons?cursor=nope"),
    ] {
        assert_eq!(b.get(path).await.status, StatusCode::BAD_REQUEST, "{path}");
    }
    let page = shop.get("/me/coupons?usable=x&spent=y").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}
both_backends!(coupons_page, coupons_page);

/// The shop's recharges on `/me/balance` page through every one, newest first.
async fn recharges_page(app: TestApp) {
    let phone = "13800138064";
    let mut shop = shopper(&app, phone).await;
    let member = member_of(&app, phone).await;
    let base = retail_server::storage::now_ms() - 10_000_000;
    let values: Vec<String> = (0..70_i64)
        .map(|i| {
            let status = if i % 2 == 0 { "paid" } else { "closed" };
            let at = base + i / 3 * 1_000;
            format!(
                "('{}', '{member}', 1000, 0, 'sandbox_qr', 'native', '{status}', {at}, {at})",
                Uuid::now_v7()
            )
        })
        .collect();
    insert_rows(
        &app,
        "recharges (id, member_id, pay_fen, bonus_fen, method, scene, status, created_at, \
         updated_at)",
        &values,
    )
    .await;
    let expected = ids_of(
        &app,
        &format!(
            "SELECT id FROM recharges WHERE member_id = '{member}' \
             ORDER BY created_at DESC, id DESC"
        ),
    )
    .await;
    assert_eq!(expected.len(), 70);
    let (pages, _) = walk(
        &mut shop,
        "/me/balance",
        "recharges",
        "/me/balance",
        rows_after("data-recharge-id=\""),
    )
    .await;
    assert_eq!(pages.len(), 2);
    assert_eq!(flat(&pages), expected);
    let page = shop.get("/me/balance?recharges=nope").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}
both_backends!(recharges_page, recharges_page);

/// The after-sales queue (console and API) pages through every case, oldest first: the open
/// ones, or every one with `all`; a store manager's is their store's.
async fn after_sales_queue_pages(app: TestApp) {
    let orders = seed_orders(&app, "PAGEA", "SH001", None, 40).await;
    let others = seed_orders(&app, "PAGEA", "SH002", None, 20).await;
    let base = retail_server::storage::now_ms() - 5_000_000;
    let values: Vec<String> = orders
        .iter()
        .map(|o| (o, "SH001"))
        .chain(others.iter().map(|o| (o, "SH002")))
        .cycle()
        .take(150)
        .enumerate()
        .map(|(i, (order, location))| {
            let status = if i % 3 == 0 { "refunded" } else { "requested" };
            let at = base + i as i64 / 3 * 1_000;
            format!(
                "('{}', '{}', 'PAGEA-{i}', '{location}', 'refund_only', 'quality', '{status}', 100, \
                 'test', {at}, {at})",
                Uuid::now_v7(),
                order.id
            )
        })
        .collect();
    insert_rows(
        &app,
        "after_sales (id, order_id, order_no, location_id, kind, reason, status, amount_fen, \
         created_by, created_at, updated_at)",
        &values,
    )
    .await;
    let cases = |condition: &str| {
        format!("SELECT id FROM after_sales WHERE {condition} ORDER BY created_at, id")
    };
    let open = "status NOT IN ('refunded', 'exchanged', 'rejected')";
    let all = ids_of(&app, &cases("1 = 1")).await;
    let open_all = ids_of(&app, &cases(open)).await;
    let open_sh001 = ids_of(&app, &cases(&format!("{open} AND location_id = 'SH001'"))).await;
    assert!(all.len() >= 150 && open_all.len() >= 100 && open_sh001.len() > 50);

    let mut admin = console(&app, "admin").await;
    let rows = rows_after("id=\"case-");
    let first = "/console/after-sales";
    let (pages, _) = walk(&mut admin, first, "cursor", first, &rows).await;
    assert_eq!(pages.len(), open_all.len().div_ceil(50));
    assert_eq!(flat(&pages), open_all);
    let first = "/console/after-sales?all=1";
    let (pages, visited) = walk(&mut admin, first, "cursor", first, &rows).await;
    assert_eq!(flat(&pages), all);
    assert!(visited[1..]
        .iter()
        .all(|p| p.starts_with("/console/after-sales?all=1&cursor=")));
    let mut manager = console(&app, "mgr.sh001").await;
    let first = "/console/after-sales";
    let (pages, _) = walk(&mut manager, first, "cursor", first, &rows).await;
    assert_eq!(flat(&pages), open_sh001);

    let token = app.login("admin").await;
    let pages = api_walk(
        &app,
        Some(&token),
        "/api/v1/after-sales?all=true&limit=60",
        item_id,
    )
    .await;
    assert_eq!(pages[0].len(), 60);
    assert_eq!(flat(&pages), all);
    let pages = api_walk(&app, Some(&token), "/api/v1/after-sales", item_id).await;
    assert_eq!(flat(&pages), open_all);
    let mgr = app.login("mgr.sh001").await;
    let pages = api_walk(&app, Some(&mgr), "/api/v1/after-sales?limit=20", item_id).await;
    assert_eq!(flat(&pages), open_sh001);

    api_refuses_cursor(&app, Some(&token), "/api/v1/after-sales?cursor=1_x").await;
    let page = admin.get("/console/after-sales?all=1&cursor=nope").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}
both_backends!(after_sales_queue_pages, after_sales_queue_pages);

/// The refund approval queue through the API (and the console) pages through every waiting
/// refund, oldest first; a store manager's is their store's.
async fn refund_approvals_page(app: TestApp) {
    let orders = seed_orders(&app, "PAGER", "SH001", None, 30).await;
    let others = seed_orders(&app, "PAGER", "SH002", None, 30).await;
    let base = retail_server::storage::now_ms() - 5_000_000;
    let mut payments = Vec::new();
    let mut refunds = Vec::new();
    for (i, order) in orders.iter().chain(&others).enumerate() {
        let payment = Uuid::now_v7();
        payments.push(format!(
            "('{payment}', '{}', 'wechat_pay', 10000, 'succeeded', {base}, {base})",
            order.id
        ));
        for j in 0..2 {
            let at = base + (i as i64 * 2 + j) / 3 * 1_000;
            refunds.push(format!(
                "('{}', '{payment}', '{}', 'wechat_pay', 100, 'test', 'cancel', \
                 'awaiting_approval', 'test', {at}, {at})",
                Uuid::now_v7(),
                order.id
            ));
        }
    }
    insert_rows(
        &app,
        "payments (id, order_id, method, amount_fen, status, created_at, updated_at)",
        &payments,
    )
    .await;
    insert_rows(
        &app,
        "payment_refunds (id, payment_id, order_id, method, amount_fen, reason, source, state, \
         requested_by, created_at, updated_at)",
        &refunds,
    )
    .await;
    let waiting = |location: &str| {
        format!(
            "SELECT r.id AS id FROM payment_refunds r JOIN orders o ON o.id = r.order_id \
             WHERE r.state = 'awaiting_approval' AND {location} ORDER BY r.created_at, r.id"
        )
    };
    let every = ids_of(&app, &waiting("1 = 1")).await;
    let sh001 = ids_of(&app, &waiting("o.location_id = 'SH001'")).await;
    assert!(every.len() >= 120 && sh001.len() >= 60);

    let token = app.login("admin").await;
    let path = "/api/v1/refunds/awaiting-approval";
    let pages = api_walk(&app, Some(&token), path, item_id).await;
    assert_eq!(pages.len(), every.len().div_ceil(50));
    assert_eq!(flat(&pages), every);
    let mgr = app.login("mgr.sh001").await;
    let pages = api_walk(&app, Some(&mgr), &format!("{path}?limit=7"), item_id).await;
    assert_eq!(flat(&pages), sh001);
    api_refuses_cursor(&app, Some(&token), &format!("{path}?cursor=nope")).await;

    let mut admin = console(&app, "admin").await;
    let first = "/console/payments/approvals";
    let (pages, _) = walk(
        &mut admin,
        first,
        "cursor",
        first,
        rows_after("id=\"refund-"),
    )
    .await;
    assert_eq!(flat(&pages), every);
}
both_backends!(refund_approvals_page, refund_approvals_page);

/// The dashboard counts every order awaiting pickup (not the first 20) and links to them in the
/// orders list, which pages through every one.
async fn dashboard_counts_every_pickup(app: TestApp) {
    seed_orders(&app, "PAGED", "SH001", None, 90).await;
    seed_orders(&app, "PAGED", "SH002", None, 30).await;
    let awaiting = |location: &str| {
        format!(
            "SELECT id FROM orders WHERE status IN ('paid', 'ready_for_pickup') \
             AND fulfilment = 'pickup' AND {location} ORDER BY created_at DESC, id DESC"
        )
    };
    let every = ids_of(&app, &awaiting("1 = 1")).await;
    let sh001 = ids_of(&app, &awaiting("location_id = 'SH001'")).await;
    assert!(every.len() >= 80 && sh001.len() >= 60);

    for (user, expected) in [("admin", &every), ("mgr.sh001", &sh001)] {
        let mut b = console(&app, user).await;
        let page = b.get("/console").await;
        assert_eq!(page.status, StatusCode::OK);
        let first = "/console/orders?status=awaiting_pickup";
        assert_eq!(link(&page.body, "kpi-pickup").as_deref(), Some(first));
        assert_eq!(link(&page.body, "all-pickup").as_deref(), Some(first));
        let kpi = &page.body[page.body.find("id=\"kpi-pickup\"").unwrap()..];
        let shown = &kpi[kpi.find('>').unwrap() + 1..kpi.find("</a>").unwrap()];
        assert_eq!(shown, expected.len().to_string(), "{user}");
        let rows = |body: &str| {
            links(body, "href=\"/console/orders/")
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        let (pages, _) = walk(&mut b, first, "cursor", first, rows).await;
        assert_eq!(&flat(&pages), expected, "{user}");
    }
}
both_backends!(dashboard_counts_every_pickup, dashboard_counts_every_pickup);
