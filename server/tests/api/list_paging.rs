//! Every list in the shop and the console pages through the whole data set (issue 16): more
//! rows than one page, walked through the HTML's "Next page" links, each row exactly once and
//! in order (newest first, ties broken by id), the filters kept from page to page, a "First
//! page" link past the first; a forged cursor is a 400 page; the console's CSV export has every
//! matching order, not one page of them.

use std::collections::HashSet;

use reqwest::StatusCode;
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
    let mut tx = app.state.store.begin().await.unwrap();
    for chunk in values.chunks(200) {
        sqlx::query(&format!(
            "INSERT INTO orders (id, order_no, channel, fulfilment, status, location_id, member_id, \
             subtotal_fen, discount_fen, total_fen, created_by, client_ts, created_at, updated_at) \
             VALUES {}",
            chunk.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
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
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO points_ledger (id, member_id, delta, kind, reason, actor, created_at) VALUES {}",
        values.join(", ")
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
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

/// The console's stock levels page through every SKU of a location, in (location, SKU) order;
/// the movements and approval queue refuse a forged cursor.
async fn stock_levels_page(app: TestApp) {
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
    let skus = |body: &str| {
        links(body, "&amp;sku=")
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let (pages, _) = walk(&mut admin, first, "cursor", first, skus).await;
    assert_eq!(pages.len(), expected.len().div_ceil(50).max(1));
    assert_eq!(flat(&pages), expected);
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
