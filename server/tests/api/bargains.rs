//! Bargain (砍价, issue 17): head office creates a bargain; a member starts a run; helpers cut
//! its price slot by slot down to the floor exactly at the last help; the starter buys at the
//! price reached (priced by the engine, explained "砍价 …", never offered to a plain order or a
//! lane); many helps at once take distinct slots exactly once; helping oneself, twice, past the
//! daily limit, after the floor or the deadline, as an old member when only new ones may, and
//! buying after the deadline or twice are clear 409s that change nothing.

use reqwest::StatusCode;
use retail_domain::order::OrderStatus;
use retail_server::app::bargains;
use retail_server::storage;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::group_buys::{as_member, code_of, count, new_member, stocked_sku};
use crate::support::TestApp;

fn money(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn fen(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("money: {v}"));
    let (yuan, cents) = text.split_once('.').unwrap_or((text, "0"));
    yuan.parse::<i64>().unwrap() * 100 + format!("{cents:0<2}").parse::<i64>().unwrap()
}

/// Creates a bargain through the API (head office): its id.
pub(crate) async fn create_bargain(
    app: &TestApp,
    sku: Uuid,
    start_fen: i64,
    floor_fen: i64,
    helpers: i64,
    new_helpers_only: bool,
) -> Uuid {
    let admin = app.login("admin").await;
    let id = Uuid::now_v7();
    let now = chrono::Utc::now();
    let body = json!({
        "id": id, "sku_id": sku, "name_zh": "砍一刀", "name_en": "Cut it",
        "start_price": money(start_fen), "floor_price": money(floor_fen),
        "helpers": helpers, "hours": 24, "per_member_limit": 2,
        "starts_at": now - chrono::Duration::hours(1), "ends_at": now + chrono::Duration::days(3),
        "stock_units": 10, "new_helpers_only": new_helpers_only,
    });
    let (status, created) = app
        .post("/api/v1/bargains", Some(&admin), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["id"], id.to_string());
    let (status, again) = app.post("/api/v1/bargains", Some(&admin), body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], id.to_string());
    id
}

async fn start_with(app: &TestApp, bargain: Uuid, member: Uuid, id: Uuid) -> (StatusCode, Value) {
    as_member(
        app,
        member,
        &format!("/api/v1/bargains/{bargain}/runs"),
        json!({ "id": id }),
    )
    .await
}

/// Starts a run: its id.
pub(crate) async fn start_run(app: &TestApp, bargain: Uuid, member: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let (status, body) = start_with(app, bargain, member, id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["id"], id.to_string());
    id
}

async fn help(app: &TestApp, run: Uuid, member: Uuid) -> (StatusCode, Value) {
    help_with(app, run, member, Uuid::now_v7()).await
}

async fn help_with(app: &TestApp, run: Uuid, member: Uuid, id: Uuid) -> (StatusCode, Value) {
    as_member(
        app,
        member,
        &format!("/api/v1/bargain-runs/{run}/help"),
        json!({ "id": id }),
    )
    .await
}

async fn buy_with(app: &TestApp, run: Uuid, member: Uuid, id: Uuid) -> (StatusCode, Value) {
    as_member(
        app,
        member,
        &format!("/api/v1/bargain-runs/{run}/buy"),
        json!({"id": id, "fulfilment": "pickup", "store": "SH001"}),
    )
    .await
}

async fn run_of(app: &TestApp, run: Uuid) -> storage::bargains::BargainRun {
    storage::bargains::run(&app.state.store, run)
        .await
        .unwrap()
        .unwrap()
}

async fn notices(app: &TestApp, member: Uuid, kind: &str) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM account_notices WHERE member_id = $1 AND kind = $2",
    )
    .bind(member.to_string())
    .bind(kind)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    sqlx::Row::try_get::<i64, _>(&row, 0).unwrap()
}

async fn expire_run(app: &TestApp, run: Uuid) {
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE bargain_runs SET deadline_at = 1 WHERE id = $1")
        .bind(run.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A run helped to its floor by three helpers, bought at the floor price through the order path
/// (the engine's promotion line "砍价 …"), paid; the starter told; the figures.
async fn helped_to_the_floor_and_bought(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let (start, floor) = (price, (price / 3).max(1));
    assert!(start - floor >= 3);
    let bargain = create_bargain(&app, sku, start, floor, 3, false).await;
    let a = new_member(&app, "13900410001").await;
    let run = start_run(&app, bargain, a).await;
    let (status, view) = app.get(&format!("/api/v1/bargain-runs/{run}"), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "open");
    assert_eq!(fen(&view["run"]["price"]), start);
    assert!(!view.to_string().contains("cut_fen") && view["helps"] == json!([]));

    let mut price_now = start;
    let mut cuts = Vec::new();
    let mut first = None;
    for (i, phone) in ["13900410002", "13900410003", "13900410004"]
        .iter()
        .enumerate()
    {
        let h = new_member(&app, phone).await;
        let id = Uuid::now_v7();
        let (status, helped) = help_with(&app, run, h, id).await;
        first.get_or_insert((h, id, helped.clone()));
        assert_eq!(status, StatusCode::OK, "{helped}");
        let cut = fen(&helped["cut"]);
        assert!(
            cut >= 1 && cut <= bargains::max_cut(start - floor, 3),
            "{helped}"
        );
        price_now -= cut;
        cuts.push(cut);
        assert_eq!(fen(&helped["price"]), price_now);
        assert_eq!(helped["helps"], i as i64 + 1);
        assert_eq!(helped["reached_floor"], i == 2);
        // The page shows the helps so far and nothing of the cuts to come.
        let (_, view) = app.get(&format!("/api/v1/bargain-runs/{run}"), None).await;
        assert_eq!(view["helps"].as_array().unwrap().len(), i + 1);
        assert_eq!(view["helps"][i]["nickname"], "张**");
    }
    assert_eq!(
        price_now, floor,
        "the floor exactly at the last help: {cuts:?}"
    );
    // The first help retried after the others: its first answer again.
    let (h, id, answer) = first.unwrap();
    let (status, again) = help_with(&app, run, h, id).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, answer);
    let (_, view) = app.get(&format!("/api/v1/bargain-runs/{run}"), None).await;
    assert_eq!(view["state"], "floor");
    assert_eq!(view["progress_percent"], 100);
    assert_eq!(notices(&app, a, "bargain_helped").await, 3);
    assert_eq!(notices(&app, a, "bargain_floor").await, 1);
    // A fourth helper finds it finished.
    let d = new_member(&app, "13900410005").await;
    let (status, body) = help(&app, run, d).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "bargain_finished");

    // Someone else cannot buy it; the starter buys at the floor, once.
    let (status, body) = buy_with(&app, run, d, Uuid::now_v7()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let order_id = Uuid::now_v7();
    let (status, bought) = buy_with(&app, run, a, order_id).await;
    assert_eq!(status, StatusCode::OK, "{bought}");
    assert_eq!(fen(&bought["total"]), floor, "{bought}");
    let (status, again) = buy_with(&app, run, a, order_id).await;
    assert_eq!(status, StatusCode::OK, "a retry answers the first: {again}");
    assert_eq!(again["id"], order_id.to_string());
    let (status, twice) = buy_with(&app, run, a, Uuid::now_v7()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");
    assert_eq!(twice["error"]["code"], "bargain_bought");
    let mut tx = app.state.store.begin().await.unwrap();
    let pricing: String = sqlx::Row::try_get(
        &sqlx::query("SELECT pricing FROM orders WHERE id = $1")
            .bind(order_id.to_string())
            .fetch_one(&mut *tx)
            .await
            .unwrap(),
        0,
    )
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(pricing.contains(&run.to_string()), "{pricing}");
    // The engine explains the line: the bargain's promotion "砍价 …" at the run's price.
    let b = bargains::get(&app.state, bargain).await.unwrap();
    let r = run_of(&app, run).await;
    let quote = retail_server::app::pricing::quote_for_order_with(
        &app.state,
        &retail_server::app::pricing::BasketRequest {
            location: "SH001".into(),
            channel: retail_server::app::pricing::Channel::Online,
            member_id: Some(a),
            lines: vec![(sku, 1)],
            label_prices: Default::default(),
            coupons: Vec::new(),
            points_to_redeem: 0,
        },
        &[bargains::bargain_price_promotion(&b, &r)],
    )
    .await
    .unwrap();
    let applied = &quote.basket.applied[0];
    assert!(applied.name.zh.starts_with("砍价 "), "{applied:?}");
    assert_eq!(quote.basket.total.fen(), floor);
    // Nobody else gets the bargain price: not a plain online order, not a lane.
    let (status, plain) = app
        .post("/api/v1/orders", None, crate::orders::pickup_order(sku, 1))
        .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!(fen(&plain["total"]), price);
    let lane = retail_server::app::pricing::context(
        &app.state,
        "SH001",
        retail_server::app::pricing::Channel::Lane,
    )
    .await
    .unwrap();
    assert!(lane
        .promotions
        .iter()
        .all(|p| p.id != run && p.id != bargain));

    crate::bus::pay(&app, &order_id.to_string()).await;
    let admin = app.login("admin").await;
    let (status, report) = app
        .get(&format!("/api/v1/bargains/{bargain}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let r = &report["report"];
    assert_eq!(
        (r["started"].as_i64(), r["helps"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        (r["bought"].as_i64(), r["reached_floor"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["conversion"].as_f64(), Some(1.0));
    assert_eq!(fen(&r["gmv"]), floor);
    assert_eq!(fen(&r["discount_cost"]), start - floor);
    assert_eq!(report["units_taken"], 1);
    let (status, list) = app.get("/api/v1/bargains", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["id"] == bargain.to_string()));
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app.get("/api/v1/bargains", Some(&manager)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    helped_to_the_floor_and_bought,
    helped_to_the_floor_and_bought
);

/// Many helps at once on one run: exactly `helpers` succeed, each with a slot of its own, and
/// the price ends at the floor.
async fn concurrent_helps_take_each_slot_once(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let (start, floor) = (price, (price / 2).max(1));
    let helpers = 8.min(start - floor);
    assert!(helpers >= 2, "price {price}");
    let bargain = create_bargain(&app, sku, start, floor, helpers, false).await;
    let starter = new_member(&app, "13900410100").await;
    let run = start_run(&app, bargain, starter).await;
    let mut members = Vec::new();
    for i in 0..24 {
        members.push(new_member(&app, &format!("139004102{i:02}")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for m in members {
        let (client, url, code) = (app.client.clone(), app.url.clone(), code_of(&app, m));
        tasks.spawn(async move {
            let resp = client
                .post(format!("{url}/api/v1/bargain-runs/{run}/help"))
                .header("x-member-code", code)
                .json(&json!({ "id": Uuid::now_v7() }))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let (mut ok, mut finished, mut total) = (0, 0, 0);
    while let Some(done) = tasks.join_next().await {
        let (status, body) = done.unwrap();
        match status {
            StatusCode::OK => {
                ok += 1;
                total += fen(&body["cut"]);
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "bargain_finished", "{body}");
                finished += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((ok, finished), (helpers, 24 - helpers));
    assert_eq!(total, start - floor);
    let r = run_of(&app, run).await;
    assert_eq!((r.helps, r.price.fen()), (helpers, floor));
    let used = count(
        &app,
        "SELECT CAST(COUNT(DISTINCT slot) AS BIGINT) FROM bargain_cuts WHERE run_id = $1 AND helper_id IS NOT NULL",
        &run.to_string(),
    )
    .await;
    assert_eq!(used, helpers, "every slot used once");
    assert_eq!(
        count(
            &app,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM bargain_cuts WHERE run_id = $1 AND helper_id IS NULL",
            &run.to_string(),
        )
        .await,
        0
    );
}
crate::both_backends!(
    concurrent_helps_take_each_slot_once,
    concurrent_helps_take_each_slot_once
);

fn two_helps_a_day(settings: &mut retail_server::config::Settings) {
    settings.bargains.daily_help_limit = 2;
}

/// Every refusal is a clear 409 (or 403/422) and changes nothing.
async fn bad_input_changes_nothing(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let (start, floor) = (price, (price / 2).max(1));
    let bargain = create_bargain(&app, sku, start, floor, 5, false).await;
    let a = new_member(&app, "13900410301").await;
    let b = new_member(&app, "13900410302").await;
    let run = start_run(&app, bargain, a).await;

    // Helping oneself.
    let (status, body) = help(&app, run, a).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "own_bargain");
    // Helping twice; a retry of the first help answers it.
    let first = Uuid::now_v7();
    let (status, helped) = help_with(&app, run, b, first).await;
    assert_eq!(status, StatusCode::OK, "{helped}");
    let (status, retry) = help_with(&app, run, b, first).await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(retry, helped, "the first answer again");
    let (status, body) = help(&app, run, b).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_helped");
    let after_one = run_of(&app, run).await;
    assert_eq!(after_one.helps, 1);
    assert_eq!(after_one.price.fen(), start - fen(&helped["cut"]));

    // The daily limit (2 here): b helps a second run, then a third is refused.
    let c = new_member(&app, "13900410303").await;
    let run_c = start_run(&app, bargain, c).await;
    let (status, body) = help(&app, run_c, b).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = new_member(&app, "13900410304").await;
    let run_d = start_run(&app, bargain, d).await;
    let (status, body) = help(&app, run_d, b).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "daily_help_limit");
    assert_eq!(run_of(&app, run_d).await.helps, 0);

    // Expired: neither helped nor bought.
    expire_run(&app, run).await;
    let e = new_member(&app, "13900410305").await;
    let (status, body) = help(&app, run, e).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "bargain_expired");
    let (status, body) = buy_with(&app, run, a, Uuid::now_v7()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "bargain_expired");
    let r = run_of(&app, run).await;
    assert_eq!((r.helps, r.status.as_str(), r.order_id), (1, "open", None));
    assert_eq!(
        storage::bargains::get(&app.state.store, bargain)
            .await
            .unwrap()
            .unwrap()
            .units_taken,
        0
    );
    let (_, view) = app.get(&format!("/api/v1/bargain-runs/{run}"), None).await;
    assert_eq!(view["state"], "expired");

    // The per-member limit (2 runs).
    let id = Uuid::now_v7();
    let (status, body) = start_with(&app, bargain, a, id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = start_with(&app, bargain, a, Uuid::now_v7()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "bargain_limit");
    // Another member's run id is not theirs to reuse.
    let (status, body) = start_with(&app, bargain, b, id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "id_taken");

    // Paused: no run starts, none is helped.
    let admin = app.login("admin").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/bargains/{bargain}/pause"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = help(&app, run_d, e).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "bargain_not_running");
    let (status, body) = start_with(&app, bargain, e, Uuid::now_v7()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "bargain_not_running");
    let (status, _) = app
        .post(
            &format!("/api/v1/bargains/{bargain}/resume"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Unknown runs and bad ids.
    let (status, _) = help(&app, Uuid::now_v7(), e).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = help_with(&app, run_d, e, Uuid::new_v4()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = as_member(
        &app,
        e,
        &format!("/api/v1/bargain-runs/{run_d}/help"),
        json!({ "id": Uuid::now_v7(), "cut": "9.99" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let resp = app
        .client
        .post(format!("{}/api/v1/bargain-runs/{run_d}/help", app.url))
        .json(&json!({ "id": Uuid::now_v7() }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(run_of(&app, run_d).await.helps, 0);

    // Bad bargains are refused field by field.
    let now = chrono::Utc::now();
    for (field, start_p, floor_p, helpers) in [
        ("floor_price", start, start, 5),
        ("helpers", start, floor, 1),
        ("helpers", start, floor, 101),
        ("start_price", price + 1, floor, 5),
        ("floor_price", 10, 8, 5),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/bargains",
                Some(&admin),
                json!({
                    "id": Uuid::now_v7(), "sku_id": sku,
                    "start_price": money(start_p), "floor_price": money(floor_p),
                    "helpers": helpers, "hours": 24, "per_member_limit": 1,
                    "starts_at": now, "ends_at": now + chrono::Duration::days(1), "stock_units": 5,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
}
crate::both_backends!(
    bad_input_changes_nothing,
    bad_input_changes_nothing,
    crate::bargains::two_helps_a_day
);

/// Helpers must be new members: one with a paid order is refused.
async fn new_helpers_only(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let bargain = create_bargain(&app, sku, price, (price / 2).max(1), 2, true).await;
    let a = new_member(&app, "13900410401").await;
    let old = new_member(&app, "13900410402").await;
    let run = start_run(&app, bargain, a).await;
    // `old` buys something first.
    let other = start_run(&app, bargain, old).await;
    let order = Uuid::now_v7();
    let (status, body) = buy_with(&app, other, old, order).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::bus::pay(&app, &order.to_string()).await;
    let (status, body) = help(&app, run, old).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "new_members_only");
    let fresh = new_member(&app, "13900410403").await;
    let (status, body) = help(&app, run, fresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
crate::both_backends!(new_helpers_only, new_helpers_only);

/// A bought run whose order is cancelled before payment is open again after the sweep, its
/// unit back; it can be bought again.
async fn a_cancelled_buy_is_given_back(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let bargain = create_bargain(&app, sku, price, (price / 2).max(1), 2, false).await;
    let a = new_member(&app, "13900410501").await;
    let run = start_run(&app, bargain, a).await;
    let order = Uuid::now_v7();
    let (status, body) = buy_with(&app, run, a, order).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fen(&body["total"]), price, "bought at the start price");
    retail_server::app::orders::change_status(
        &app.state.store,
        order,
        OrderStatus::Cancelled,
        "system",
        "payment timeout",
    )
    .await
    .unwrap();
    bargains::sweep(&app.state).await.unwrap();
    let r = run_of(&app, run).await;
    assert_eq!((r.status.as_str(), r.order_id), ("open", None));
    let b = storage::bargains::get(&app.state.store, bargain)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.units_taken, 0);
    assert_eq!(bargains::sweep(&app.state).await.unwrap(), 0);
    let (status, body) = buy_with(&app, run, a, Uuid::now_v7()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
crate::both_backends!(a_cancelled_buy_is_given_back, a_cancelled_buy_is_given_back);

/// In a real browser (SQLite): shopper A starts a bargain on the product page; shoppers B and C
/// open its share page and help it to its floor; A buys it at the floor price and pays.
/// Screenshots of the product page, the bargain page helped and at its floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoppers_help_a_bargain_to_its_floor_and_the_starter_buys() {
    use crate::browser::{
        browser, browser_available, click, shopper_login, start_driver, text_of, wait_for_text,
        wait_path, Shots,
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
    let floor = (price * 6 / 10).max(1);
    let bargain = create_bargain(&app, sku, price, floor, 2, false).await;
    let driver = start_driver().await;

    // A starts a bargain on the product page.
    let first = browser(&driver, true).await;
    let product_path = format!("/p/{product}");
    shopper_login(&first, &app, "13800138081", &product_path).await;
    first
        .goto(&format!("{}{product_path}?sku={sku}", app.url))
        .await
        .unwrap();
    let card = text_of(&first, ".bargain").await;
    assert!(card.contains("砍价"), "{card}");
    shots.take(&first, "shop-bargain-product-360").await;
    click(&first, ".start-bargain button").await;
    let run_path = wait_path(&first, "/bargain/").await;
    let run: Uuid = run_path.trim_start_matches("/bargain/").parse().unwrap();
    assert_eq!(
        text_of(&first, "#bargain-price").await,
        text_of(&first, "#start-price").await
    );
    assert!(
        first.find(fantoccini::Locator::Css("#help")).await.is_err(),
        "no help button for the starter"
    );

    // B and C follow the share link, log in and help.
    for phone in ["13800138082", "13800138083"] {
        let helper = browser(&driver, true).await;
        shopper_login(&helper, &app, phone, &run_path).await;
        click(&helper, "#help").await;
        wait_for_text(&helper, "#bargain-helped", "").await;
        assert!(
            helper
                .find(fantoccini::Locator::Css("#help"))
                .await
                .is_err(),
            "helped once: no second help button"
        );
        shots.take(&helper, "shop-bargain-helped-360").await;
        helper.close().await.unwrap();
    }
    assert_eq!(run_of(&app, run).await.price.fen(), floor);

    // A was told: two helps and the floor, in the message centre.
    first
        .goto(&format!("{}/me/messages", app.url))
        .await
        .unwrap();
    wait_for_text(&first, "body", "已砍到底价").await;
    assert!(text_of(&first, "body").await.contains("好友帮你砍了一刀"));
    // A sees the floor and buys at it.
    first.goto(&format!("{}{run_path}", app.url)).await.unwrap();
    assert!(text_of(&first, "#bargain-status").await.contains("底价"));
    assert!(!text_of(&first, "#bargain-helpers li").await.is_empty());
    shots.take(&first, "shop-bargain-floor-360").await;
    click(&first, "#buy").await;
    let order_path = wait_path(&first, "/orders/").await;
    let order: Uuid = order_path.trim_start_matches("/orders/").parse().unwrap();
    assert!(text_of(&first, "#bargain-order").await.contains("砍价订单"));
    click(&first, "form[action$='/pay'] button").await;
    wait_path(&first, "/sandbox/pay/").await;
    click(&first, "form button").await;
    click(&first, "#return").await;
    wait_path(&first, "/orders/").await;
    let o = storage::orders::get(&app.state.store, order).await.unwrap();
    assert_eq!(o.total.fen(), floor);
    assert_eq!(o.status, OrderStatus::Paid);
    let _ = bargain;
    first.close().await.unwrap();
}

/// The console (head office): create a bargain through the form, see it listed, open its
/// report, pause it; a bad form names the field; a store manager is kept out.
async fn the_console_creates_reports_and_pauses(app: TestApp) {
    let (sku, price) = stocked_sku(&app, 40).await;
    let mut desk = crate::web::console(&app, "admin").await;
    let page = desk.get("/console/bargains").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"new-bargain\""));
    let id = Uuid::now_v7().to_string();
    let sku_text = sku.to_string();
    let form = |helpers: &'static str| {
        vec![
            ("id", id.clone()),
            ("sku_id", sku_text.clone()),
            ("name_zh", "控制台砍价".to_owned()),
            ("start_price", money(price)),
            ("floor_price", money((price / 2).max(1))),
            ("helpers", helpers.to_owned()),
            ("hours", "24".to_owned()),
            ("per_member_limit", "1".to_owned()),
            ("starts_at", "2026-01-01T00:00".to_owned()),
            ("ends_at", "2026-12-31T23:00".to_owned()),
            ("stock_units", "10".to_owned()),
            ("new_helpers_only", "1".to_owned()),
        ]
    };
    let bad = form("1");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = desk.post_csrf("/console/bargains", &bad).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/console/bargains?error=helpers")
    );
    let good = form("3");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = desk.post_csrf("/console/bargains", &good).await;
    assert_eq!(done.location.as_deref(), Some("/console/bargains?done=1"));
    let b: Uuid = id.parse().unwrap();
    let g = storage::bargains::get(&app.state.store, b)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (g.helpers, g.new_helpers_only, g.status.as_str()),
        (3, true, "active")
    );
    let page = desk.get("/console/bargains").await;
    assert!(page.body.contains("控制台砍价"), "{}", page.body);
    assert!(page.body.contains(&format!("data-id=\"{b}\"")));
    let report = desk.get(&format!("/console/bargains/{b}")).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert!(report.body.contains("id=\"bargain-report\""));
    assert!(report.body.contains("id=\"r-conversion\""));
    let done = desk
        .post_csrf(&format!("/console/bargains/{b}/status"), &[("paused", "1")])
        .await;
    assert_eq!(done.location.as_deref(), Some("/console/bargains?done=1"));
    let g = storage::bargains::get(&app.state.store, b)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.status, "paused");
    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    let page = manager.get("/console/bargains").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = manager.get(&format!("/console/bargains/{b}")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    the_console_creates_reports_and_pauses,
    the_console_creates_reports_and_pauses
);
