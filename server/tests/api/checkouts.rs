//! Checkouts (issue 20): a cart of the platform's and two merchants' goods placed as one order
//! per merchant and paid with one WeChat Pay trade through the real client against the local
//! fake (signed, encrypted notifications), on SQLite and PostgreSQL — retries, a cart that
//! cannot be placed whole, each order refunded on its own as a partial refund of the trade,
//! money for an order cancelled meanwhile refunded, and the shop's pages in a real browser.

use reqwest::StatusCode;
use retail_server::app::reconciliation;
use retail_testkit::eventually;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

use crate::merchants::{listed_product, trading_merchant};
use crate::provider_pay::{on_both, paid_events, start, stocked_sku, Providers};
use crate::support::TestApp;

/// The platform's SKU and two merchants' SKUs (50 units each at SH001): (platform, alpha, beta).
async fn three_sellers(app: &TestApp, admin: &str) -> (String, String, String) {
    three_sellers_named(app, admin).await.0
}

/// [`three_sellers`], with the two merchants' ids.
async fn three_sellers_named(
    app: &TestApp,
    admin: &str,
) -> ((String, String, String), [String; 2]) {
    let platform = stocked_sku(app, admin).await.as_str().unwrap().to_owned();
    let suffix = &Uuid::now_v7().simple().to_string()[20..];
    let alpha_id = format!("m-a{suffix}");
    let beta_id = format!("m-b{suffix}");
    let alpha = trading_merchant(app, admin, &alpha_id, &format!("ua{suffix}")).await;
    let beta = trading_merchant(app, admin, &beta_id, &format!("ub{suffix}")).await;
    let category = "FOOD-SNACK-CHIPS";
    let code = suffix.to_uppercase();
    let a = listed_product(
        app,
        admin,
        &alpha,
        &format!("A{code}"),
        category,
        "10.00",
        "SH001",
    )
    .await;
    let b = listed_product(
        app,
        admin,
        &beta,
        &format!("B{code}"),
        category,
        "25.50",
        "SH001",
    )
    .await;
    ((platform, a, b), [alpha_id, beta_id])
}

fn cart(id: Uuid, lines: &[(&str, i64)]) -> Value {
    json!({"id": id, "fulfilment": "pickup", "store": "SH001",
           "lines": lines.iter().map(|(sku, qty)| json!({"sku_id": sku, "qty": qty})).collect::<Vec<_>>()})
}

async fn order_status(app: &TestApp, admin: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/orders/{id}"), Some(admin))
        .await
        .1
}

/// Starts the checkout's combined WeChat Pay payment `trade`: the intent.
async fn pay_with_wechat(app: &TestApp, checkout: Uuid, trade: Uuid) -> Value {
    let (status, intent) = app
        .post(
            &format!("/api/v1/checkouts/{checkout}/payments"),
            None,
            json!({"id": trade, "provider": "wechat_pay"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    intent
}

fn fen(money: &Value) -> i64 {
    let text = money.as_str().unwrap();
    let (yuan, cents) = text.split_once('.').unwrap_or((text, "00"));
    yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

/// A cart of three sellers' goods: three orders, one trade, one notification paying all three,
/// each order refunded on its own against the trade.
async fn a_cart_of_three_sellers_is_three_orders_paid_once(p: Providers) {
    let app = &p.app;
    let admin = app.login("admin").await;
    let (platform, alpha, beta) = three_sellers(app, &admin).await;
    let id = Uuid::now_v7();
    let body = cart(id, &[(&beta, 1), (&platform, 1), (&alpha, 2)]);
    let (status, placed) = app.post("/api/v1/checkouts", None, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let orders = placed["orders"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 3, "{placed}");
    assert_eq!(orders[0]["merchant_id"], "platform");
    assert!(orders[1]["merchant_id"]
        .as_str()
        .unwrap()
        .starts_with("m-a"));
    assert!(orders[2]["merchant_id"]
        .as_str()
        .unwrap()
        .starts_with("m-b"));
    assert_eq!(orders[1]["total"], "20.00");
    assert_eq!(orders[2]["total"], "25.50");
    let total: i64 = orders.iter().map(|o| fen(&o["total"])).sum();
    assert_eq!(fen(&placed["total"]), total);
    for o in &orders {
        assert_eq!(o["status"], "pending_payment");
        assert!(o["access_token"].as_str().unwrap().starts_with("ot_"));
        // Each order holds its own seller's goods only.
        let order = order_status(app, &admin, o["id"].as_str().unwrap()).await;
        assert_eq!(order["lines"].as_array().unwrap().len(), 1, "{order}");
    }
    // A retry answers the same orders and places nothing twice; the id for another cart is 409.
    let (status, again) = app.post("/api/v1/checkouts", None, body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let again_ids: Vec<&Value> = again["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    let ids: Vec<&Value> = orders.iter().map(|o| &o["id"]).collect();
    assert_eq!(again_ids, ids);
    assert!(again["orders"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["created"] == false));
    let (status, other) = app
        .post(
            "/api/v1/checkouts",
            None,
            cart(id, &[(&platform, 1), (&alpha, 2)]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{other}");
    assert_eq!(other["error"]["code"], "id_in_use", "{other}");

    let (status, view) = app.get(&format!("/api/v1/checkouts/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(fen(&view["due"]), total);

    // One payment for all three.
    let trade_id = Uuid::now_v7();
    let intent = pay_with_wechat(app, id, trade_id).await;
    assert_eq!(intent["trade"]["amount_fen"], total);
    assert_eq!(intent["payments"].as_array().unwrap().len(), 3);
    assert!(intent["payments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["trade_id"] == json!(trade_id.to_string()) && p["status"] == "pending"));
    let code_url = intent["pay_url"].as_str().unwrap().to_owned();
    assert!(code_url.starts_with("weixin://wxpay/"), "{code_url}");
    let requests = p.wechat.requests();
    let (_, again) = app
        .post(
            &format!("/api/v1/checkouts/{id}/payments"),
            None,
            json!({"id": trade_id, "provider": "wechat_pay"}),
        )
        .await;
    assert_eq!(again["pay_url"], code_url);
    assert_eq!(
        p.wechat.requests(),
        requests,
        "a retry asks WeChat Pay nothing"
    );
    let out_trade_no = trade_id.simple().to_string();
    assert_eq!(p.wechat.trade(&out_trade_no).unwrap().amount, total);

    let day = reconciliation::beijing_date(chrono::Utc::now());
    let sent = p.wechat.pay(&out_trade_no).await.expect("paid");
    assert_eq!(sent.answer, Some(204));
    for o in &orders {
        let order = order_status(app, &admin, o["id"].as_str().unwrap()).await;
        assert_eq!(order["status"], "paid", "{order}");
        assert_eq!(paid_events(&order), 1);
    }
    let replayed = p.wechat.replay(&sent.id).await.unwrap();
    assert_eq!(replayed.answer, Some(204));
    for o in &orders {
        let order = order_status(app, &admin, o["id"].as_str().unwrap()).await;
        assert_eq!(paid_events(&order), 1, "a replay pays nothing twice");
    }
    let (_, view) = app.get(&format!("/api/v1/checkouts/{id}"), None).await;
    assert_eq!(view["due"], "0.00", "{view}");
    assert_eq!(view["trades"][0]["status"], "succeeded");
    let transaction = p.wechat.trade(&out_trade_no).unwrap().transaction_id;
    assert_eq!(view["trades"][0]["transaction_id"], transaction);

    // Beta's order is cancelled by the store: its share goes back as a partial refund of the
    // trade; then alpha's too — together never more than the trade.
    for (o, expect) in [(&orders[2], 2550), (&orders[1], 2000)] {
        let order_id = o["id"].as_str().unwrap();
        let (status, body) = app
            .post(
                &format!("/api/v1/orders/{order_id}/cancel"),
                Some(&admin),
                json!({"reason": "seller out of stock"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let refunds =
            retail_server::storage::refunds::of_order(&app.state.store, order_id.parse().unwrap())
                .await
                .unwrap();
        assert_eq!(refunds.len(), 1);
        let refund_no = refunds[0].id.simple().to_string();
        let at_wechat = eventually(
            "the refund reaches WeChat Pay",
            Duration::from_secs(10),
            || async { p.wechat.refund(&refund_no) },
        )
        .await
        .unwrap();
        assert_eq!(at_wechat.out_trade_no, out_trade_no);
        assert_eq!(at_wechat.amount, expect);
        assert_eq!(at_wechat.total, total);
        p.wechat.settle_refund(&refund_no, "SUCCESS").await.unwrap();
    }
    let platform_order = order_status(app, &admin, orders[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        platform_order["status"], "paid",
        "the platform's order is untouched"
    );

    // The day's WeChat Pay bill has one line for the trade and one per refund: all matched with
    // ours (the trade, not its three shares; the refunds by the trade they were made against).
    let today = reconciliation::beijing_date(chrono::Utc::now());
    if today == day {
        let attempt = reconciliation::reconcile_now(
            &app.state,
            &crate::reconciliation::head_office(),
            "wechat_pay",
            today,
        )
        .await
        .unwrap();
        let reconciliation::Attempt::Reconciled(run) = attempt else {
            panic!("no bill: {attempt:?}");
        };
        assert_eq!(run.counts.bill_lines, 3, "{run:?}");
        assert_eq!(run.counts.our_records, 3, "{run:?}");
        assert_eq!(run.counts.matched, 3, "{run:?}");
        assert_eq!(run.counts.mismatches(), 0, "{run:?}");

        // The finance export settles each merchant's order apart, at SH001, with the trade's
        // transaction id on each share.
        let merchant = orders[1]["merchant_id"].as_str().unwrap();
        let (status, settlement) = app
            .get(
                &format!("/api/v1/finance/settlements?date={today}&merchant={merchant}"),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{settlement}");
        let stores = settlement["stores"].as_array().unwrap();
        assert_eq!(stores.len(), 1, "{settlement}");
        assert_eq!(stores[0]["store_id"], "SH001");
        assert_eq!(stores[0]["merchant_id"], merchant);
        assert_eq!(stores[0]["payments"], "20.00", "{settlement}");
        assert_eq!(stores[0]["refunds"], "20.00", "{settlement}");
        let paid = stores[0]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["kind"] == "payment")
            .unwrap();
        assert_eq!(paid["provider_ref"], transaction, "{paid}");
        let (status, _) = app
            .get(
                &format!("/api/v1/finance/settlements?date={today}&merchant=m-none"),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
on_both!(a_cart_of_three_sellers_is_three_orders_paid_once);

/// A cart that cannot be placed whole (one seller short of stock) leaves nothing reserved: the
/// order placed before it is cancelled, and a retry of that checkout answers the same.
async fn a_cart_that_cannot_be_placed_whole_reserves_nothing(p: Providers) {
    let app = &p.app;
    let admin = app.login("admin").await;
    let (platform, alpha, _) = three_sellers(app, &admin).await;
    let before = available(app, &admin, &platform).await;
    let id = Uuid::now_v7();
    let body = cart(id, &[(&platform, 1), (&alpha, 60)]);
    let (status, refused) = app.post("/api/v1/checkouts", None, body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "out_of_stock", "{refused}");
    assert_eq!(
        available(app, &admin, &platform).await,
        before,
        "nothing stays reserved"
    );
    let (_, view) = app.get(&format!("/api/v1/checkouts/{id}"), None).await;
    assert_eq!(view["orders"][0]["status"], "cancelled", "{view}");
    assert_eq!(view["due"], "0.00");
    // A retry answers as the first time and reserves nothing either.
    let (status, retry) = app.post("/api/v1/checkouts", None, body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{retry}");
    assert_eq!(retry["error"]["code"], "out_of_stock", "{retry}");
    assert_eq!(available(app, &admin, &platform).await, before);
    let (status, nothing) = app
        .post(
            &format!("/api/v1/checkouts/{id}/payments"),
            None,
            json!({"id": Uuid::now_v7(), "provider": "wechat_pay"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{nothing}");
    assert_eq!(nothing["error"]["code"], "not_payable");
    let (status, _) = app
        .get(&format!("/api/v1/checkouts/{}", Uuid::now_v7()), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
on_both!(a_cart_that_cannot_be_placed_whole_reserves_nothing);

/// The units of `sku` available at SH001.
async fn available(app: &TestApp, admin: &str, sku: &str) -> i64 {
    let (_, stock) = app
        .get(
            &format!("/api/v1/stock?location_id=SH001&sku_id={sku}"),
            Some(admin),
        )
        .await;
    let rows = stock.get("items").unwrap_or(&stock).as_array().unwrap();
    rows.iter()
        .find(|r| r["sku_id"] == json!(sku))
        .map(|r| r["available"].as_i64().unwrap())
        .unwrap()
}

/// The shopper pays the trade after one of its orders was cancelled: the others are paid, the
/// cancelled one's share is refunded against the trade, and head office is alerted.
async fn money_for_an_order_cancelled_meanwhile_is_refunded(p: Providers) {
    let app = &p.app;
    let admin = app.login("admin").await;
    let (platform, alpha, beta) = three_sellers(app, &admin).await;
    let id = Uuid::now_v7();
    let (status, placed) = app
        .post(
            "/api/v1/checkouts",
            None,
            cart(id, &[(&platform, 1), (&alpha, 1), (&beta, 1)]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let orders = placed["orders"].as_array().unwrap().clone();
    let trade_id = Uuid::now_v7();
    pay_with_wechat(app, id, trade_id).await;
    let beta_order = orders[2]["id"].as_str().unwrap();
    let response = app
        .client
        .post(format!("{}/api/v1/orders/{beta_order}/cancel", app.url))
        .header("x-order-token", orders[2]["access_token"].as_str().unwrap())
        .json(&json!({"reason": "changed my mind"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let out_trade_no = trade_id.simple().to_string();
    let sent = p.wechat.pay(&out_trade_no).await.expect("paid");
    assert_eq!(sent.answer, Some(204));
    for o in &orders[..2] {
        let order = order_status(app, &admin, o["id"].as_str().unwrap()).await;
        assert_eq!(order["status"], "paid", "{order}");
    }
    let order = order_status(app, &admin, beta_order).await;
    assert_eq!(order["status"], "cancelled", "{order}");
    let refunds =
        retail_server::storage::refunds::of_order(&app.state.store, beta_order.parse().unwrap())
            .await
            .unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].source, "late_payment");
    let refund_no = refunds[0].id.simple().to_string();
    let at_wechat = eventually(
        "the refund reaches WeChat Pay",
        Duration::from_secs(10),
        || async { p.wechat.refund(&refund_no) },
    )
    .await
    .unwrap();
    assert_eq!(at_wechat.out_trade_no, out_trade_no);
    assert_eq!(at_wechat.amount, 2550);
    let alerts = retail_server::storage::payment_review::alerts(&app.state.store, false, 0, 100)
        .await
        .unwrap()
        .0;
    assert!(
        alerts.iter().any(|a| a.kind == "late_payment"),
        "{alerts:?}"
    );
}
on_both!(money_for_an_order_cancelled_meanwhile_is_refunded);

/// The shop in a real browser: a member's cart of three sellers' goods checks out into the
/// checkout's page (three orders, one per seller), is paid with one WeChat Pay QR code, and
/// the page, refreshing, shows every order paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_checks_out_three_sellers_and_pays_once_in_a_browser() {
    use crate::browser::{
        browser, browser_available, click, click_to_next_page, milk, shopper_login, start_driver,
        text_of, wait_for_text, wait_path,
    };
    if !browser_available() {
        return;
    }
    let p = start(retail_testkit::Backend::Sqlite).await.expect("app");
    let app = &p.app;
    let admin = app.login("admin").await;
    let (_, merchants) = three_sellers_named(app, &admin).await;
    let mut products = vec![milk(app).await.to_string()];
    for merchant in &merchants {
        let (status, listed) = app
            .get(
                &format!("/api/v1/products?merchant={merchant}"),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let items = listed.get("items").unwrap_or(&listed).as_array().unwrap();
        assert_eq!(items.len(), 1, "{listed}");
        products.push(items[0]["id"].as_str().unwrap().to_owned());
    }
    let driver = start_driver().await;
    // At a desktop: the QR code to scan (a phone would be sent to WeChat Pay's H5 page).
    let phone = browser(&driver, false).await;
    shopper_login(&phone, app, "13900271001", "/").await;
    for product in &products {
        phone
            .goto(&format!("{}/p/{product}", app.url))
            .await
            .unwrap();
        click(&phone, "form[action='/cart/add'] button").await;
        text_of(&phone, ".notice.ok").await;
    }
    phone
        .goto(&format!("{}/checkout?mode=pickup&store=SH001", app.url))
        .await
        .unwrap();
    click_to_next_page(&phone, "#checkout-form button.block").await;
    let path = wait_path(&phone, "/checkouts/").await;
    let summary = text_of(&phone, "#checkout-summary").await;
    assert!(summary.contains('3'), "{summary}");
    let sellers = text_of(&phone, "main").await;
    assert!(
        sellers.contains("农场"),
        "the merchants are named: {sellers}"
    );
    click_to_next_page(&phone, "button[value='wechat_pay']").await;
    let pay_path = wait_path(&phone, &format!("{path}/pay/")).await;
    let trade: Uuid = pay_path.rsplit('/').next().unwrap().parse().unwrap();
    let code = phone
        .find(fantoccini::Locator::Css("[data-pay-code]"))
        .await
        .unwrap()
        .attr("data-pay-code")
        .await
        .unwrap()
        .unwrap();
    assert!(code.starts_with("weixin://wxpay/"), "{code}");
    p.wechat
        .pay(&trade.simple().to_string())
        .await
        .expect("paid");
    // The QR page looks again every few seconds and goes back to the checkout, now settled.
    wait_for_text(&phone, "#checkout-settled", "没有待支付").await;
    let statuses = text_of(&phone, "main").await;
    assert_eq!(statuses.matches("已付款").count(), 3, "{statuses}");
    phone.close().await.unwrap();
}
