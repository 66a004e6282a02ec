//! Points-mall goods (积分商城, issue 17): head office offers a SKU for points; a member redeems it
//! — points and units taken together, an order at price 0 placed (paid at once for pickup); the
//! limit, the units and the member's points are checked and a refusal changes nothing; a retry
//! takes nothing more; a cancelled redemption gives its points and units back once.

use reqwest::StatusCode;
use retail_domain::codes::SignedCode;
use retail_server::app::points_mall;
use retail_server::storage;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::group_buys::{new_member, stocked_sku};
use crate::support::TestApp;

async fn as_member(app: &TestApp, member: Uuid, path: &str, body: Value) -> (StatusCode, Value) {
    let code = app.sign(&SignedCode::Member(storage::members::member_code(
        member,
        chrono::Utc::now(),
        300,
    )));
    let resp = app
        .client
        .post(format!("{}{path}", app.url))
        .header("x-member-code", code)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn give_points(app: &TestApp, member: Uuid, points: i64) {
    let admin = app.login("admin").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/members/{member}/points/adjustments"),
            Some(&admin),
            json!({"id": Uuid::now_v7(), "delta": points, "reason": "积分商城测试"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn balance(app: &TestApp, member: Uuid) -> i64 {
    storage::members::points_balance(&app.state.store, member)
        .await
        .unwrap()
}

async fn units_taken(app: &TestApp, goods: Uuid) -> i64 {
    storage::points_mall::get(&app.state.store, goods)
        .await
        .unwrap()
        .unwrap()
        .units_taken
}

fn pickup(id: Uuid, qty: i64) -> Value {
    json!({"id": id, "qty": qty, "fulfilment": "pickup", "store": "SH001"})
}

async fn members_redeem_goods_for_points(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let (sku, _) = stocked_sku(&app, 20).await;
    let now = chrono::Utc::now();
    let goods = Uuid::now_v7();
    let body = json!({"id": goods, "sku_id": sku, "points_price": 30, "stock_units": 3,
        "per_member_limit": 2, "starts_at": now - chrono::Duration::hours(1),
        "ends_at": now + chrono::Duration::days(7)});
    let (status, _) = app
        .post("/api/v1/points-mall/goods", Some(&manager), body.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut bad = body.clone();
    bad["points_price"] = json!(0);
    let (status, err) = app
        .post("/api/v1/points-mall/goods", Some(&admin), bad)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, created) = app
        .post("/api/v1/points-mall/goods", Some(&admin), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (_, again) = app
        .post("/api/v1/points-mall/goods", Some(&admin), body)
        .await;
    assert_eq!(again["id"], created["id"]);
    let (_, offered) = app.get("/api/v1/points-mall/goods", None).await;
    assert!(
        offered
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == json!(goods) && g["left"] == 3 && g["points_price"] == 30),
        "{offered}"
    );

    let rich = new_member(&app, "13900450001").await;
    give_points(&app, rich, 100).await;
    let start = balance(&app, rich).await;
    let path = format!("/api/v1/points-mall/goods/{goods}/redeem");
    let order_id = Uuid::now_v7();
    let (status, redeemed) = as_member(&app, rich, &path, pickup(order_id, 1)).await;
    assert_eq!(status, StatusCode::OK, "{redeemed}");
    assert_eq!(redeemed["points"], 30);
    assert_eq!(
        redeemed["status"], "paid",
        "nothing to pay for pickup: paid at once"
    );
    assert_eq!(redeemed["total"], "0.00");
    assert_eq!(balance(&app, rich).await, start - 30);
    let order = storage::orders::get(&app.state.store, order_id)
        .await
        .unwrap();
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].amount.fen(), 0);
    assert!(
        order.lines[0].unit_price.fen() > 0,
        "the regular price, discounted to 0"
    );
    // A retry: the same order, nothing more taken.
    let (status, retry) = as_member(&app, rich, &path, pickup(order_id, 1)).await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(retry["id"], redeemed["id"]);
    assert_eq!(balance(&app, rich).await, start - 30);
    assert_eq!(units_taken(&app, goods).await, 1);

    // Over the limit, or without the points: refused, nothing changed.
    let (status, err) = as_member(&app, rich, &path, pickup(Uuid::now_v7(), 2)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "points_goods_limit");
    let poor = new_member(&app, "13900450002").await;
    let poor_start = balance(&app, poor).await;
    if poor_start < 30 {
        let (status, err) = as_member(&app, poor, &path, pickup(Uuid::now_v7(), 1)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{err}");
        assert_eq!(err["error"]["code"], "insufficient_points");
        assert_eq!(balance(&app, poor).await, poor_start);
    }
    assert_eq!(balance(&app, rich).await, start - 30);
    assert_eq!(units_taken(&app, goods).await, 1);

    // Paused: refused.
    let (status, _) = app
        .post(
            &format!("/api/v1/points-mall/goods/{goods}/pause"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = as_member(&app, rich, &path, pickup(Uuid::now_v7(), 1)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("points_goods_not_running"))
    );
    app.post(
        &format!("/api/v1/points-mall/goods/{goods}/resume"),
        Some(&admin),
        json!({}),
    )
    .await;

    // The store cancels the paid redemption: its points and units come back, once.
    let (status, cancelled) = app
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(&manager),
            json!({"reason": "缺货"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    points_mall::sweep(&app.state).await.unwrap();
    assert_eq!(points_mall::sweep(&app.state).await.unwrap(), 0);
    assert_eq!(balance(&app, rich).await, start);
    assert_eq!(units_taken(&app, goods).await, 0);

    // Sold out: 3 units, a member takes 2, another 1, a fourth unit is refused.
    let other = new_member(&app, "13900450003").await;
    give_points(&app, other, 100).await;
    let (status, body) = as_member(&app, rich, &path, pickup(Uuid::now_v7(), 2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = as_member(&app, other, &path, pickup(Uuid::now_v7(), 1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other_left = balance(&app, other).await;
    let (status, err) = as_member(&app, other, &path, pickup(Uuid::now_v7(), 1)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"]["code"], "points_goods_sold_out");
    assert_eq!(balance(&app, other).await, other_left);
    let (_, all) = app.get("/api/v1/points-mall/goods/all", Some(&admin)).await;
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == json!(goods))
        .unwrap()
        .clone();
    assert_eq!(row["report"]["units"], 3, "{row}");
    assert_eq!(row["report"]["points"], 90, "{row}");
    assert_eq!(row["report"]["members"], 2, "{row}");
}
crate::both_backends!(
    members_redeem_goods_for_points,
    members_redeem_goods_for_points
);

/// The pages: head office offers an item in the console (a bad number is named); a member with
/// enough points redeems it on the points-mall page for pickup and lands on the paid order.
async fn the_console_offers_and_the_shop_redeems(app: TestApp) {
    let (sku, _) = stocked_sku(&app, 20).await;
    let mut desk = crate::web::console(&app, "admin").await;
    let page = desk.get("/console/points-mall").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"new-points-goods\""));
    let id = Uuid::now_v7().to_string();
    let sku_text = sku.to_string();
    let (starts, ends) = (
        crate::group_buys::china_local(-1),
        crate::group_buys::china_local(24 * 30),
    );
    let form = |points: &'static str| {
        vec![
            ("id", id.as_str()),
            ("sku_id", sku_text.as_str()),
            ("points_price", points),
            ("stock_units", "5"),
            ("per_member_limit", "1"),
            ("starts_at", starts.as_str()),
            ("ends_at", ends.as_str()),
        ]
    };
    let refused = desk.post_csrf("/console/points-mall", &form("lots")).await;
    assert_eq!(
        refused.location.as_deref(),
        Some("/console/points-mall?error=points_price")
    );
    let done = desk.post_csrf("/console/points-mall", &form("40")).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/console/points-mall?done=1")
    );
    let listed = desk.get("/console/points-mall").await;
    assert!(listed.body.contains(&format!("data-id=\"{id}\"")));

    let phone = "13900450011";
    let member = new_member(&app, phone).await;
    give_points(&app, member, 100).await;
    let before = balance(&app, member).await;
    let mut b = crate::web::shopper(&app, phone).await;
    let mall = b.get("/points-mall").await;
    assert!(
        mall.body.contains(&format!("data-goods=\"{id}\"")) && mall.body.contains("40 积分"),
        "{}",
        mall.body
    );
    let action = format!("/points-mall/goods/{id}/redeem");
    let form_html = crate::web::between(&mall.body, &format!("action=\"{action}\""), "</form>");
    let order_id = crate::web::between(form_html, "name=\"id\" value=\"", "\"").to_owned();
    let redeemed = b
        .post_csrf(&action, &[("id", &order_id), ("store", "SH001")])
        .await;
    assert_eq!(
        redeemed.location.as_deref(),
        Some(format!("/orders/{order_id}").as_str())
    );
    assert_eq!(balance(&app, member).await, before - 40);
    let order = storage::orders::get(&app.state.store, order_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(order.status.as_str(), "paid");
    // Again (the limit is 1): refused in words on the page, nothing taken.
    let again = b
        .post_csrf(
            &action,
            &[("id", &Uuid::now_v7().to_string()), ("store", "SH001")],
        )
        .await;
    assert_eq!(
        again.location.as_deref(),
        Some("/points-mall?error=points_goods_limit")
    );
    let page = b.get("/points-mall?error=points_goods_limit").await;
    assert!(page.body.contains("兑换上限"), "{}", page.body);
    assert_eq!(balance(&app, member).await, before - 40);

    // Delivered: another member chooses a saved address; the order waits for its shipping fee.
    let phone = "13900450012";
    let other = new_member(&app, phone).await;
    give_points(&app, other, 100).await;
    let address_id = Uuid::now_v7();
    retail_server::app::delivery::save_address(
        &app.state,
        other,
        address_id,
        &retail_server::app::checkout::Address {
            name: "赵六".into(),
            phone: phone.into(),
            province: "上海".into(),
            city: "上海".into(),
            address: "静安区南京西路 1000 号 12 楼".into(),
            ..Default::default()
        },
        true,
    )
    .await
    .unwrap();
    let mut c = crate::web::shopper(&app, phone).await;
    let mall = c.get("/points-mall").await;
    assert!(
        mall.body
            .contains(&format!("value=\"address:{address_id}\"")),
        "{}",
        mall.body
    );
    let form_html = crate::web::between(&mall.body, &format!("action=\"{action}\""), "</form>");
    let order_id = crate::web::between(form_html, "name=\"id\" value=\"", "\"").to_owned();
    let redeemed = c
        .post_csrf(
            &action,
            &[
                ("id", &order_id),
                ("store", &format!("address:{address_id}")),
            ],
        )
        .await;
    assert_eq!(
        redeemed.location.as_deref(),
        Some(format!("/orders/{order_id}").as_str())
    );
    let order = storage::orders::get(&app.state.store, order_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(order.fulfilment.as_str(), "delivery");
    assert_eq!(order.lines[0].amount.fen(), 0, "the goods cost points only");
    if order.total.fen() > 0 {
        assert_eq!(
            order.status.as_str(),
            "pending_payment",
            "the shipping fee is to pay"
        );
    } else {
        assert_eq!(order.status.as_str(), "paid");
    }
}
crate::both_backends!(
    the_console_offers_and_the_shop_redeems,
    the_console_offers_and_the_shop_redeems
);
