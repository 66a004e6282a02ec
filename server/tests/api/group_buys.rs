//! Group-buy (拼团, issue 17): head office creates a group-buy; a member opens a team by
//! ordering at the group price, others join; paid orders are held until the team fills, then
//! released; a team unfilled at its deadline is failed by the sweep once — every order cancelled,
//! every payment refunded once, the stock back — however often the sweep runs; the last seat is
//! taken exactly once under many joins at once; joining twice, a full or closed team, or a
//! new-members-only group-buy as an old member are clear 409s that change nothing.

use reqwest::StatusCode;
use retail_domain::codes::SignedCode;
use retail_domain::order::OrderStatus;
use retail_server::app::group_buys;
use retail_server::storage;
use retail_server::storage::stock::{apply_movements, Movement, MovementKind};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

/// A new member with this phone.
pub(crate) async fn new_member(app: &TestApp, phone: &str) -> Uuid {
    let s = &app.state;
    match storage::members::register(
        &s.store,
        &s.keys,
        &s.settings.points,
        Uuid::now_v7(),
        phone,
        "张三",
    )
    .await
    .unwrap()
    {
        storage::members::Registration::Created(m)
        | storage::members::Registration::Existing(m) => m.id,
        storage::members::Registration::PhoneTaken(id) => id,
    }
}

pub(crate) fn code_of(app: &TestApp, member: Uuid) -> String {
    app.sign(&SignedCode::Member(storage::members::member_code(
        member,
        chrono::Utc::now(),
        300,
    )))
}

/// A SKU stocked at SH001 with `units` available, and its chain price in fen.
pub(crate) async fn stocked_sku(app: &TestApp, units: i64) -> (Uuid, i64) {
    let (sku, available) = crate::orders::some_sku(app).await;
    let mut tx = app.state.store.begin().await.unwrap();
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: "SH001",
            sku_id: sku,
            kind: MovementKind::Adjustment,
            on_hand_delta: units - available,
            reserved_delta: 0,
            reason: "test setup",
            actor: "test",
            ref_id: None,
            client_ts: 0,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let price = storage::catalog::skus(&app.state.store, &[sku], None)
        .await
        .unwrap()[&sku]
        .price
        .fen();
    (sku, price)
}

async fn available(app: &TestApp, sku: Uuid) -> i64 {
    let (status, body) = app
        .get(&format!("/api/v1/skus/{sku}/availability"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.get("stores")
        .unwrap_or(&body)
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["location_id"] == "SH001" || s["store"] == "SH001" || s["id"] == "SH001")
        .and_then(|s| s["available"].as_i64())
        .unwrap()
}

/// Creates a group-buy through the API (head office): its id.
pub(crate) async fn create_group_buy(
    app: &TestApp,
    sku: Uuid,
    price_fen: i64,
    team_size: i64,
    new_members_only: bool,
) -> Uuid {
    create_group_buy_with(app, sku, price_fen, team_size, new_members_only, false).await
}

/// A group-buy, with virtual fill on or off.
async fn create_group_buy_with(
    app: &TestApp,
    sku: Uuid,
    price_fen: i64,
    team_size: i64,
    new_members_only: bool,
    virtual_fill: bool,
) -> Uuid {
    let admin = app.login("admin").await;
    let id = Uuid::now_v7();
    let now = chrono::Utc::now();
    let body = json!({
        "id": id, "sku_id": sku, "name_zh": "三人团", "name_en": "Team of three",
        "group_price": format!("{}.{:02}", price_fen / 100, price_fen % 100),
        "team_size": team_size, "fill_hours": 24, "per_member_limit": 2,
        "starts_at": now - chrono::Duration::hours(1), "ends_at": now + chrono::Duration::days(3),
        "stock_units": 100, "new_members_only": new_members_only, "virtual_fill": virtual_fill,
    });
    let (status, created) = app
        .post("/api/v1/group-buys", Some(&admin), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["id"], id.to_string());
    // By client id: a retry answers the same group-buy.
    let (status, again) = app.post("/api/v1/group-buys", Some(&admin), body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], id.to_string());
    id
}

fn seat_body() -> Value {
    json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001"})
}

/// POSTs `body` to `path` as the member (their member code).
pub(crate) async fn as_member(
    app: &TestApp,
    member: Uuid,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}{path}", app.url))
        .header("x-member-code", code_of(app, member))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Opens a team: (team id, order id).
pub(crate) async fn open_team(app: &TestApp, gb: Uuid, member: Uuid) -> (Uuid, Uuid) {
    let (status, body) = as_member(
        app,
        member,
        &format!("/api/v1/group-buys/{gb}/teams"),
        seat_body(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["team_id"].as_str().unwrap().parse().unwrap(),
        body["id"].as_str().unwrap().parse().unwrap(),
    )
}

async fn join(app: &TestApp, team: Uuid, member: Uuid) -> (StatusCode, Value) {
    as_member(
        app,
        member,
        &format!("/api/v1/group-teams/{team}/join"),
        seat_body(),
    )
    .await
}

async fn joined(app: &TestApp, team: Uuid, member: Uuid) -> Uuid {
    let (status, body) = join(app, team, member).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn order_status(app: &TestApp, order: Uuid) -> OrderStatus {
    storage::orders::get(&app.state.store, order)
        .await
        .unwrap()
        .status
}

/// The one number `sql` (with one bound text) answers.
pub(crate) async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query(sql)
        .bind(bind.to_owned())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    sqlx::Row::try_get::<i64, _>(&row, 0).unwrap()
}

async fn notices(app: &TestApp, order: Uuid, kind: &str) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM member_notices WHERE order_id = $1 AND kind = $2",
    )
    .bind(order.to_string())
    .bind(kind)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    sqlx::Row::try_get::<i64, _>(&row, 0).unwrap()
}

async fn expire_team(app: &TestApp, team: Uuid) {
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE group_teams SET deadline_at = 1 WHERE id = $1")
        .bind(team.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn open_join_fill_releases(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let group_price = (price / 2).max(1);
    let gb = create_group_buy(&app, sku, group_price, 3, false).await;
    let (a, b, c) = (
        new_member(&app, "13900370001").await,
        new_member(&app, "13900370002").await,
        new_member(&app, "13900370003").await,
    );
    let (team, order_a) = open_team(&app, gb, a).await;
    let order_b = joined(&app, team, b).await;
    let order_c = joined(&app, team, c).await;

    // Priced by the engine at the group price, with the group-buy named in the order's pricing.
    let order = storage::orders::get(&app.state.store, order_a)
        .await
        .unwrap();
    assert_eq!(order.total.fen(), group_price, "{order:?}");
    let mut tx = app.state.store.begin().await.unwrap();
    let pricing: String = sqlx::Row::try_get(
        &sqlx::query("SELECT pricing FROM orders WHERE id = $1")
            .bind(order_a.to_string())
            .fetch_one(&mut *tx)
            .await
            .unwrap(),
        0,
    )
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(pricing.contains(&gb.to_string()), "{pricing}");
    // Nobody else gets the group price: not a plain online order, not a lane.
    let (status, plain) = app
        .post("/api/v1/orders", None, crate::orders::pickup_order(sku, 1))
        .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!(
        plain["total"],
        json!(format!("{}.{:02}", price / 100, price % 100))
    );
    let lane = retail_server::app::pricing::context(
        &app.state,
        "SH001",
        retail_server::app::pricing::Channel::Lane,
    )
    .await
    .unwrap();
    assert!(lane.promotions.iter().all(|p| p.id != gb));

    // Two paid: held — not released to pickup.
    crate::bus::pay(&app, &order_a.to_string()).await;
    crate::bus::pay(&app, &order_b.to_string()).await;
    let held = retail_server::app::orders::change_status(
        &app.state.store,
        order_a,
        OrderStatus::ReadyForPickup,
        "staff:test",
        "ready",
    )
    .await;
    assert_eq!(held.unwrap_err().code(), "group_pending");
    let (status, view) = app.get(&format!("/api/v1/group-teams/{team}"), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["team"]["status"], "open");
    assert_eq!(view["seats_left"], 0);
    assert_eq!(view["members"].as_array().unwrap().len(), 3);
    assert_eq!(view["members"][0]["nickname"], "张**");
    assert_eq!(view["members"][0]["phone"], "139****0001");
    assert_eq!(view["members"][2]["paid"], false);

    // The last one pays: filled, every member told once, the orders released.
    crate::bus::pay(&app, &order_c.to_string()).await;
    let t = storage::group_buys::team(&app.state.store, team)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.status.as_str(), t.seats_paid), ("filled", 3));
    for order in [order_a, order_b, order_c] {
        assert_eq!(notices(&app, order, "group_filled").await, 1);
        assert_eq!(order_status(&app, order).await, OrderStatus::Paid);
    }
    let ready = retail_server::app::orders::change_status(
        &app.state.store,
        order_a,
        OrderStatus::ReadyForPickup,
        "staff:test",
        "ready",
    )
    .await
    .unwrap();
    assert_eq!(ready.status, OrderStatus::ReadyForPickup);
    // A filled team is not joined any more.
    let d = new_member(&app, "13900370004").await;
    let (status, body) = join(&app, team, d).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "team_full");

    // Head office's figures.
    let admin = app.login("admin").await;
    let (status, list) = app.get("/api/v1/group-buys", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == gb.to_string())
        .unwrap();
    assert_eq!(row["report"]["teams_filled"], 1);
    assert_eq!(row["report"]["participants"], 3);
    assert_eq!(row["units_taken"], 3);
}
crate::both_backends!(open_join_fill_releases, open_join_fill_releases);

async fn an_expired_team_is_refunded_once(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let gb = create_group_buy(&app, sku, (price / 2).max(1), 3, false).await;
    let before = available(&app, sku).await;
    let (a, b, c) = (
        new_member(&app, "13900370011").await,
        new_member(&app, "13900370012").await,
        new_member(&app, "13900370013").await,
    );
    let (team, order_a) = open_team(&app, gb, a).await;
    let order_b = joined(&app, team, b).await;
    let order_c = joined(&app, team, c).await; // never paid
    crate::bus::pay(&app, &order_a.to_string()).await;
    crate::bus::pay(&app, &order_b.to_string()).await;
    assert_eq!(available(&app, sku).await, before - 3);

    expire_team(&app, team).await;
    let first = group_buys::sweep(&app.state).await.unwrap();
    let second = group_buys::sweep(&app.state).await.unwrap();
    // (The server's own sweeper may have got there first: between them, exactly one failure.)
    assert!(first.failed + second.failed <= 1, "{first:?} {second:?}");
    assert_eq!(second.failed, 0);
    let t = storage::group_buys::team(&app.state.store, team)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, "failed");
    for order in [order_a, order_b, order_c] {
        assert_eq!(order_status(&app, order).await, OrderStatus::Cancelled);
        assert_eq!(notices(&app, order, "group_failed").await, 1);
    }
    for order in [order_a, order_b] {
        let refunds = count(
            &app,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM payment_refunds WHERE order_id = $1 AND source = 'cancel'",
            &order.to_string(),
        )
        .await;
        assert_eq!(refunds, 1, "one refund for order {order}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM payment_refunds WHERE order_id = $1",
            &order_c.to_string(),
        )
        .await,
        0,
        "nothing paid, nothing refunded"
    );
    assert_eq!(available(&app, sku).await, before, "the stock is back");
    let g = storage::group_buys::get(&app.state.store, gb)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.units_taken, 0, "the units set aside are back");
    // A failed team is closed to joiners.
    let d = new_member(&app, "13900370014").await;
    let (status, body) = join(&app, team, d).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "team_closed");
    // Sweeping again (as after a restart) changes nothing.
    let third = group_buys::sweep(&app.state).await.unwrap();
    assert_eq!(third.failed, 0);
    for order in [order_a, order_b] {
        let refunds = count(
            &app,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM payment_refunds WHERE order_id = $1",
            &order.to_string(),
        )
        .await;
        assert_eq!(refunds, 1);
    }
}
crate::both_backends!(
    an_expired_team_is_refunded_once,
    an_expired_team_is_refunded_once
);

async fn the_last_seat_is_taken_once(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 100).await;
    let gb = create_group_buy(&app, sku, (price / 2).max(1), 5, false).await;
    let leader = new_member(&app, "13900370100").await;
    let (team, _) = open_team(&app, gb, leader).await;
    let mut members = Vec::new();
    for i in 0..20 {
        members.push(new_member(&app, &format!("139003702{i:02}")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for m in members {
        let (client, url, code) = (app.client.clone(), app.url.clone(), code_of(&app, m));
        tasks.spawn(async move {
            let resp = client
                .post(format!("{url}/api/v1/group-teams/{team}/join"))
                .header("x-member-code", code)
                .json(&seat_body())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let (mut ok, mut full) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (status, body) = done.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "team_full", "{body}");
                full += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((ok, full), (4, 16));
    let t = storage::group_buys::team(&app.state.store, team)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.seats_taken, 5);
    assert_eq!(
        storage::group_buys::seats(&app.state.store, team)
            .await
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        count(
            &app,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM orders o JOIN group_members gm ON gm.order_id = o.id WHERE gm.team_id = $1",
            &team.to_string(),
        )
        .await,
        5,
        "one order per seat"
    );
}
crate::both_backends!(the_last_seat_is_taken_once, the_last_seat_is_taken_once);

async fn bad_joins_change_nothing(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let gb = create_group_buy(&app, sku, (price / 2).max(1), 2, false).await;
    let a = new_member(&app, "13900370301").await;
    let b = new_member(&app, "13900370302").await;
    let (team, order_a) = open_team(&app, gb, a).await;

    // The opener joining their own team.
    let body = seat_body();
    let (status, err) = as_member(
        &app,
        a,
        &format!("/api/v1/group-teams/{team}/join"),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "already_joined");
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    assert!(
        storage::orders::get(&app.state.store, id).await.is_err(),
        "no order placed"
    );
    let t = storage::group_buys::team(&app.state.store, team)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.seats_taken, 1);

    // A second member joins; a third finds it full; a retry of the second answers the same.
    let body_b = seat_body();
    let (status, first) = as_member(
        &app,
        b,
        &format!("/api/v1/group-teams/{team}/join"),
        body_b.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, retry) =
        as_member(&app, b, &format!("/api/v1/group-teams/{team}/join"), body_b).await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(retry["id"], first["id"]);
    let c = new_member(&app, "13900370303").await;
    let (status, err) = join(&app, team, c).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "team_full");

    // An expired team (the deadline passed, not yet swept) is closed.
    let (team2, _) = open_team(&app, gb, c).await;
    expire_team(&app, team2).await;
    let d = new_member(&app, "13900370304").await;
    let (status, err) = join(&app, team2, d).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "team_closed");
    let t2 = storage::group_buys::team(&app.state.store, team2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t2.seats_taken, 1);

    // New members only: a member who has bought before is refused.
    crate::bus::pay(&app, &order_a.to_string()).await;
    let gb_new = create_group_buy(&app, sku, (price / 2).max(1), 2, true).await;
    let (status, err) = as_member(
        &app,
        a,
        &format!("/api/v1/group-buys/{gb_new}/teams"),
        seat_body(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "new_members_only");
    let e = new_member(&app, "13900370305").await;
    let (team3, _) = open_team(&app, gb_new, e).await;
    let (status, err) = join(&app, team3, a).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "new_members_only");
    let g = storage::group_buys::get(&app.state.store, gb_new)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.units_taken, 1, "only the new member's seat");

    // Without a member code: 401; a paused group-buy: 409.
    let (status, _) = app
        .post(&format!("/api/v1/group-buys/{gb}/teams"), None, seat_body())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = app.login("admin").await;
    let (status, paused) = app
        .post(
            &format!("/api/v1/group-buys/{gb}/pause"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["status"], "paused");
    let f = new_member(&app, "13900370306").await;
    let (status, err) = as_member(
        &app,
        f,
        &format!("/api/v1/group-buys/{gb}/teams"),
        seat_body(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "group_buy_not_running");

    // Bad group-buys are refused.
    let now = chrono::Utc::now();
    let (status, err) = app
        .post(
            "/api/v1/group-buys",
            Some(&admin),
            json!({"id": Uuid::now_v7(), "sku_id": sku, "group_price": "1.00", "team_size": 51,
                "fill_hours": 24, "per_member_limit": 1, "starts_at": now,
                "ends_at": now + chrono::Duration::days(1), "stock_units": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
}
crate::both_backends!(bad_joins_change_nothing, bad_joins_change_nothing);

/// An unpaid seat whose order is cancelled is given back by the sweep, and the seat can be
/// taken again.
async fn a_cancelled_seat_is_given_back(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let gb = create_group_buy(&app, sku, (price / 2).max(1), 2, false).await;
    let a = new_member(&app, "13900370401").await;
    let b = new_member(&app, "13900370402").await;
    let c = new_member(&app, "13900370403").await;
    let (team, _) = open_team(&app, gb, a).await;
    let order_b = joined(&app, team, b).await;
    let (status, _) = join(&app, team, c).await;
    assert_eq!(status, StatusCode::CONFLICT);
    retail_server::app::orders::change_status(
        &app.state.store,
        order_b,
        OrderStatus::Cancelled,
        "system",
        "payment timeout",
    )
    .await
    .unwrap();
    group_buys::sweep(&app.state).await.unwrap();
    let t = storage::group_buys::team(&app.state.store, team)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.seats_taken, 1);
    joined(&app, team, c).await;
}
crate::both_backends!(
    a_cancelled_seat_is_given_back,
    a_cancelled_seat_is_given_back
);

/// In a real browser (SQLite): one shopper opens a team from the product page and pays; a
/// second opens the team's share page, joins and pays; the team is filled and both orders are
/// released. Screenshots of the product page, the team page before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_opens_a_team_and_another_joins_from_its_page() {
    use crate::browser::{
        browser, browser_available, click, shopper_login, start_driver, text_of, wait_path, Shots,
    };
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(crate::support::Backend::Sqlite)
        .await
        .expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let product = crate::browser::milk(&app).await;
    let detail = storage::catalog::product(&app.state.store, product)
        .await
        .unwrap()
        .unwrap();
    let sku = detail.skus[0].id;
    let price = detail.skus[0].price.fen();
    let gb = create_group_buy(&app, sku, (price * 8 / 10).max(1), 2, false).await;
    let driver = start_driver().await;

    // The first shopper opens a team on the product page and pays for it.
    let first = browser(&driver, true).await;
    let product_path = format!("/p/{product}");
    shopper_login(&first, &app, "13800138071", &product_path).await;
    first
        .goto(&format!("{}{product_path}?sku={sku}", app.url))
        .await
        .unwrap();
    let card = text_of(&first, ".group-buy").await;
    assert!(card.contains("拼团"), "{card}");
    shots.take(&first, "shop-group-buy-product-360").await;
    first
        .find(fantoccini::Locator::Css(
            ".open-team select option[value='SH001']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&first, ".open-team button").await;
    let order_path = wait_path(&first, "/orders/").await;
    let order_a: Uuid = order_path.trim_start_matches("/orders/").parse().unwrap();
    click(&first, "form[action$='/pay'] button").await;
    wait_path(&first, "/sandbox/pay/").await;
    click(&first, "form button").await;
    click(&first, "#return").await;
    wait_path(&first, "/orders/").await;
    assert!(text_of(&first, "#group-order").await.contains("拼团订单"));
    shots.take(&first, "shop-group-order-paid-360").await;
    let seat = storage::group_buys::seat_of_order(&app.state.store, order_a)
        .await
        .unwrap()
        .expect("a seat");
    let team = seat.team_id;
    first
        .goto(&format!("{}/group/{team}", app.url))
        .await
        .unwrap();
    assert_eq!(text_of(&first, "#seats-left").await, "1");
    assert!(text_of(&first, "#team-members")
        .await
        .contains("138****8071"));
    shots.take(&first, "shop-group-team-open-360").await;

    // The second shopper follows the share link, logs in, joins and pays.
    let second = browser(&driver, true).await;
    let team_path = format!("/group/{team}");
    shopper_login(&second, &app, "13800138072", &team_path).await;
    click(&second, "#join").await;
    let order_path = wait_path(&second, "/orders/").await;
    let order_b: Uuid = order_path.trim_start_matches("/orders/").parse().unwrap();
    click(&second, "form[action$='/pay'] button").await;
    wait_path(&second, "/sandbox/pay/").await;
    click(&second, "form button").await;
    click(&second, "#return").await;
    wait_path(&second, "/orders/").await;

    // Filled: both orders released, the team page says so.
    let t = storage::group_buys::team(&app.state.store, team)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, "filled");
    for order in [order_a, order_b] {
        assert_eq!(order_status(&app, order).await, OrderStatus::Paid);
        assert!(!storage::group_buys::is_held(&app.state.store, order)
            .await
            .unwrap());
    }
    second
        .goto(&format!("{}{team_path}", app.url))
        .await
        .unwrap();
    assert!(text_of(&second, "#team-status").await.contains("已成团"));
    shots.take(&second, "shop-group-team-filled-360").await;
    let _ = gb;
    first.close().await.unwrap();
    second.close().await.unwrap();
}

/// The console page (head office): create a group-buy through the form, see it listed with its
/// figures, pause it; a bad form names the field; a store manager is kept out.
/// A `datetime-local` value in China time, `hours` from now.
pub(crate) fn china_local(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours))
        .with_timezone(&retail_server::app::china_offset())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

async fn the_console_creates_lists_and_pauses(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let mut desk = crate::web::console(&app, "admin").await;
    let page = desk.get("/console/group-buys").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"new-group-buy\""));
    let id = Uuid::now_v7().to_string();
    let sku_text = sku.to_string();
    let group_price = format!("{}.{:02}", (price / 2) / 100, (price / 2) % 100);
    let form = |team_size: &'static str| {
        vec![
            ("id", id.clone()),
            ("sku_id", sku_text.clone()),
            ("name_zh", "控制台拼团".to_owned()),
            ("group_price", group_price.clone()),
            ("team_size", team_size.to_owned()),
            ("fill_hours", "24".to_owned()),
            ("per_member_limit", "1".to_owned()),
            ("starts_at", china_local(-1)),
            ("ends_at", china_local(24 * 30)),
            ("stock_units", "10".to_owned()),
            ("new_members_only", "1".to_owned()),
        ]
    };
    let bad = form("1");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = desk.post_csrf("/console/group-buys", &bad).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/console/group-buys?error=team_size")
    );
    let good = form("3");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = desk.post_csrf("/console/group-buys", &good).await;
    assert_eq!(done.location.as_deref(), Some("/console/group-buys?done=1"));
    let gb: Uuid = id.parse().unwrap();
    let g = storage::group_buys::get(&app.state.store, gb)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (g.team_size, g.new_members_only, g.status.as_str()),
        (3, true, "active")
    );
    let page = desk.get("/console/group-buys").await;
    assert!(page.body.contains("控制台拼团"), "{}", page.body);
    assert!(page.body.contains(&format!("data-id=\"{gb}\"")));
    let done = desk
        .post_csrf(
            &format!("/console/group-buys/{gb}/status"),
            &[("paused", "1")],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("/console/group-buys?done=1"));
    let g = storage::group_buys::get(&app.state.store, gb)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.status, "paused");
    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    let page = manager.get("/console/group-buys").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    the_console_creates_lists_and_pauses,
    the_console_creates_lists_and_pauses
);

/// The failure of a team is driven from the database: a team whose deadline passed while the
/// server was down is failed and refunded by the restarted server's own sweeper, once.
async fn a_team_due_while_down_is_refunded_after_a_restart(mut app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let gb = create_group_buy(&app, sku, (price / 2).max(1), 2, false).await;
    let a = new_member(&app, "13900370501").await;
    let (team, order) = open_team(&app, gb, a).await;
    crate::bus::pay(&app, &order.to_string()).await;
    app.stop().await.unwrap();
    {
        let store = storage::Store::connect(&app.settings.database_url)
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        sqlx::query("UPDATE group_teams SET deadline_at = 1 WHERE id = $1")
            .bind(team.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        store.close().await;
    }
    let app = app.restart().await;
    retail_testkit::wait_until(
        "the restarted server fails the team",
        std::time::Duration::from_secs(60),
        || async {
            storage::group_buys::team(&app.state.store, team)
                .await
                .unwrap()
                .is_some_and(|t| t.status == "failed")
        },
    )
    .await;
    assert_eq!(order_status(&app, order).await, OrderStatus::Cancelled);
    group_buys::sweep(&app.state).await.unwrap();
    let refunds = count(
        &app,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM payment_refunds WHERE order_id = $1",
        &order.to_string(),
    )
    .await;
    assert_eq!(refunds, 1);
}
crate::both_backends!(
    a_team_due_while_down_is_refunded_after_a_restart,
    a_team_due_while_down_is_refunded_after_a_restart
);

/// Virtual fill (off by default): at the deadline a team one member short with every real seat
/// paid is filled with a virtual member (its orders released, members told, the fill audited);
/// a team two short, or with an unpaid seat, or of a group-buy without the option, fails.
async fn a_team_one_short_is_filled_by_a_virtual_member_when_allowed(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let gb = create_group_buy_with(&app, sku, (price / 2).max(1), 3, false, true).await;
    let plain = create_group_buy(&app, sku, (price / 2).max(1), 3, false).await;
    let g = storage::group_buys::get(&app.state.store, gb)
        .await
        .unwrap()
        .unwrap();
    assert!(g.virtual_fill);
    let member = |n: u32| new_member(&app, Box::leak(format!("139004400{n:02}").into_boxed_str()));
    let paid_team = |gb: Uuid, a: Uuid, b: Option<Uuid>, pay_b: bool| {
        let app = &app;
        async move {
            let (team, order_a) = open_team(app, gb, a).await;
            crate::bus::pay(app, &order_a.to_string()).await;
            let mut orders = vec![order_a];
            if let Some(b) = b {
                let order_b = joined(app, team, b).await;
                if pay_b {
                    crate::bus::pay(app, &order_b.to_string()).await;
                }
                orders.push(order_b);
            }
            (team, orders)
        }
    };
    let (one_short, filled_orders) =
        paid_team(gb, member(1).await, Some(member(2).await), true).await;
    let (two_short, _) = paid_team(gb, member(3).await, None, false).await;
    let (unpaid, _) = paid_team(gb, member(4).await, Some(member(5).await), false).await;
    let (no_option, _) = paid_team(plain, member(6).await, Some(member(7).await), true).await;
    for order in &filled_orders {
        assert!(storage::group_buys::is_held(&app.state.store, *order)
            .await
            .unwrap());
    }
    // Then past their deadline (the server's own sweeper may get there first).
    for team in [one_short, two_short, unpaid, no_option] {
        expire_team(&app, team).await;
    }

    group_buys::sweep(&app.state).await.unwrap();
    let again = group_buys::sweep(&app.state).await.unwrap();
    assert_eq!(
        (again.virtually_filled, again.failed),
        (0, 0),
        "each team once"
    );
    let store = &app.state.store;
    let team = |id| async move { storage::group_buys::team(store, id).await.unwrap().unwrap() };
    let t = team(one_short).await;
    assert_eq!((t.status.as_str(), t.virtual_seats), ("filled", 1));
    for order in &filled_orders {
        assert!(!storage::group_buys::is_held(&app.state.store, *order)
            .await
            .unwrap());
        assert_eq!(order_status(&app, *order).await, OrderStatus::Paid);
        assert_eq!(notices(&app, *order, "group_filled").await, 1);
    }
    for id in [two_short, unpaid, no_option] {
        let t = team(id).await;
        assert_eq!(
            (t.status.as_str(), t.virtual_seats),
            ("failed", 0),
            "team {id}"
        );
    }
    // The team page shows the virtual member for what it is.
    let (status, view) = app
        .get(&format!("/api/v1/group-teams/{one_short}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["seats_left"], 0);
    let members = view["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().filter(|m| m["stand_in"] == true).count(), 1);
    // Audited, by the system.
    let admin = app.login("admin").await;
    let (_, audit) = app
        .get(
            &format!("/api/v1/audit?entity_id={one_short}"),
            Some(&admin),
        )
        .await;
    let fills: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "group_buy.virtual_fill")
        .collect();
    assert_eq!(fills.len(), 1, "{audit}");
    assert_eq!(fills[0]["entity_id"], one_short.to_string());
    assert_eq!(fills[0]["actor"], "system");
    let (_, report) = app.get("/api/v1/group-buys", Some(&admin)).await;
    let row = report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == gb.to_string())
        .unwrap()
        .clone();
    assert_eq!(row["report"]["teams_virtually_filled"], 1, "{row}");
}
crate::both_backends!(
    a_team_one_short_is_filled_by_a_virtual_member_when_allowed,
    a_team_one_short_is_filled_by_a_virtual_member_when_allowed
);
