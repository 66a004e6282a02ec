//! Stored value online, on SQLite and PostgreSQL, through the real WeChat Pay client against its
//! local fake: head office's recharge packages, a member's recharge credited once (principal and
//! bonus apart) when WeChat Pay's notification arrives, the payment PIN (weak ones refused, wrong
//! ones counted and locked), and the balance paying an order alone or split with WeChat Pay —
//! principal first, bonus last — given back when the order is cancelled.

use reqwest::StatusCode;
use retail_domain::money::Money;
use retail_testkit::payments::wechat_settings;
use retail_testkit::wechat_pay::FakeWechatPay;
use retail_testkit::{eventually, Backend};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

use crate::support::TestApp;
use crate::web::{a_sku, between, shopper, Browser};

struct Fixture {
    app: TestApp,
    wechat: FakeWechatPay,
    _keys: tempfile::TempDir,
}

async fn start(backend: Backend) -> Option<Fixture> {
    let wechat = FakeWechatPay::start();
    let keys = tempfile::tempdir().unwrap();
    let w = wechat_settings(&wechat, keys.path());
    let app = TestApp::spawn_with(backend, move |s| {
        s.payments.wechat = w;
        s.payments.settle_after_secs = 1;
        s.payments.provider_timeout_millis = 1_500;
        s.sms.resend_after_secs = 1;
    })
    .await?;
    Some(Fixture {
        app,
        wechat,
        _keys: keys,
    })
}

macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let f = super::start(retail_testkit::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                super::$name(f).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(f) = super::start(retail_testkit::Backend::Postgres).await {
                    super::$name(f).await;
                }
            }
        }
    };
}

fn yuan(text: &str) -> Money {
    Money::parse(text).unwrap()
}

/// The member id of a shopper's phone.
pub(crate) async fn member_id(app: &TestApp, phone: &str) -> Uuid {
    retail_server::storage::members::by_phone(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        phone,
    )
    .await
    .unwrap()
    .expect("the shopper is a member")
    .id
}

async fn split(app: &TestApp, member: Uuid) -> (Money, Money) {
    let s = retail_server::storage::members::balance_split(&app.state.store, member)
        .await
        .unwrap();
    (s.principal, s.bonus)
}

/// Head office offers "pay 100, get 110"; answers its id.
async fn package_100_plus_10(app: &TestApp) -> Uuid {
    let admin = app.login("admin").await;
    let id = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/recharge-packages",
            Some(&admin),
            json!({"id": id, "name": "充100送10", "pay": "100.00", "bonus": "10.00", "sort": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

/// The member recharges `package` through WeChat Pay in the shop and pays the QR.
async fn recharge(f: &Fixture, b: &mut Browser, package: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let page = b
        .post_csrf(
            "/me/balance/recharge",
            &[
                ("id", &id.to_string()),
                ("package", &package.to_string()),
                ("provider", "wechat_pay"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some(format!("/me/balance/recharge/{id}").as_str())
    );
    let qr = b.get(&format!("/me/balance/recharge/{id}")).await;
    assert!(between(&qr.body, "data-pay-code=\"", "\"").starts_with("weixin://wxpay/"));
    let sent = f.wechat.pay(&id.simple().to_string()).await.expect("paid");
    assert_eq!(sent.answer, Some(204));
    id
}

/// A pending pickup order placed in the shop: (order id, its total).
async fn shop_order(app: &TestApp, b: &mut Browser, qty: &str) -> (Uuid, Money) {
    let (_, sku) = a_sku(app, "纯牛奶").await;
    let sku = sku.to_string();
    b.post_csrf(
        "/cart/add",
        &[("sku", &sku), ("qty", qty), ("back", "/cart")],
    )
    .await;
    let id = Uuid::now_v7().to_string();
    let page = b
        .post_csrf(
            "/checkout",
            &[("id", &id), ("mode", "pickup"), ("store", "SH001")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let order: Uuid = page
        .location
        .unwrap()
        .trim_start_matches("/orders/")
        .parse()
        .unwrap();
    let total = retail_server::storage::orders::get(&app.state.store, order)
        .await
        .unwrap()
        .total;
    (order, total)
}

async fn status_of(app: &TestApp, order: Uuid) -> String {
    retail_server::storage::orders::get(&app.state.store, order)
        .await
        .unwrap()
        .status
        .as_str()
        .to_owned()
}

async fn pay_with_balance(
    b: &mut Browser,
    order: Uuid,
    id: Uuid,
    amount: &str,
    pin: &str,
) -> String {
    let page = b
        .post_csrf(
            &format!("/orders/{order}/pay-balance"),
            &[("id", &id.to_string()), ("amount", amount), ("pin", pin)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    page.location.unwrap()
}

/// Packages: head office only, checked, idempotent by id; the shop offers the active ones.
async fn recharge_packages_are_head_office_s(f: Fixture) {
    let app = &f.app;
    let admin = app.login("admin").await;
    let id = package_100_plus_10(app).await;
    let (status, again) = app
        .post(
            "/api/v1/recharge-packages",
            Some(&admin),
            json!({"id": id, "name": "充100送10", "pay": "100.00", "bonus": "10.00", "sort": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a retry answers the package");
    assert_eq!(again["id"], id.to_string());
    let (status, body) = app
        .post(
            "/api/v1/recharge-packages",
            Some(&admin),
            json!({"id": id, "name": "充100送20", "pay": "100.00", "bonus": "20.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for (pay, bonus, field) in [
        ("0.50", "0", "pay"),
        ("100.00", "100.01", "bonus"),
        ("100.00", "-1", "bonus"),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/recharge-packages",
                Some(&admin),
                json!({"id": Uuid::now_v7(), "name": "x", "pay": pay, "bonus": bonus}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["fields"][field].is_string(), "{body}");
    }
    let cashier = app.login("cashier1.sh001").await;
    let (status, _) = app
        .post(
            "/api/v1/recharge-packages",
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "name": "x", "pay": "10.00", "bonus": "0"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, offered) = app.get("/api/v1/recharge-packages", None).await;
    assert!(offered
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == id.to_string()));
    let (status, _) = app
        .post(
            &format!("/api/v1/recharge-packages/{id}/retire"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, offered) = app.get("/api/v1/recharge-packages", None).await;
    assert!(!offered
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == id.to_string()));
    // A retired package cannot be bought.
    let mut b = shopper(app, "13800139001").await;
    let page = b
        .post_csrf(
            "/me/balance/recharge",
            &[
                ("id", &Uuid::now_v7().to_string()),
                ("package", &id.to_string()),
                ("provider", "wechat_pay"),
            ],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/me/balance?error=failed"));
}
on_both!(recharge_packages_are_head_office_s);

/// A recharge through WeChat Pay: credited once, principal and bonus apart, replays and the
/// settler's query adding nothing.
async fn a_recharge_is_credited_once_with_its_bonus(f: Fixture) {
    let app = &f.app;
    let package = package_100_plus_10(app).await;
    let phone = "13800139002";
    let mut b = shopper(app, phone).await;
    let member = member_id(app, phone).await;
    let id = recharge(&f, &mut b, package).await;
    assert_eq!(split(app, member).await, (yuan("100.00"), yuan("10.00")));
    // WeChat Pay retries; the settler asks too: nothing more is credited.
    let sent = f.wechat.notifications();
    let replayed = f.wechat.replay(&sent[0].id).await.unwrap();
    assert_eq!(replayed.answer, Some(204));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(split(app, member).await, (yuan("100.00"), yuan("10.00")));
    let page = b.get("/me/balance").await;
    assert!(
        page.body.contains("id=\"balance-total\">¥110.00"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"balance-bonus\">¥10.00"));
    assert!(page.body.contains("data-recharge=\"paid\""));
    let recharge = retail_server::storage::stored_value::recharge_by_id(&app.state.store, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recharge.status, "paid");
    let transaction = recharge
        .transaction_id
        .clone()
        .expect("the provider's transaction id");
    // Head office finds it by the provider's transaction id.
    let (rows, total) = retail_server::storage::payment_review::payments(
        &app.state.store,
        &retail_server::storage::payment_review::PaymentQuery {
            provider_ref: Some(transaction),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(total, 1);
    assert!(rows[0].recharge && rows[0].id == id && rows[0].order_id.is_none());
}
on_both!(a_recharge_is_credited_once_with_its_bonus);

/// A recharge whose notification is lost is credited by the settler's query.
async fn a_lost_recharge_notification_is_found_by_the_settler(f: Fixture) {
    let app = &f.app;
    let package = package_100_plus_10(app).await;
    let phone = "13800139003";
    let mut b = shopper(app, phone).await;
    let member = member_id(app, phone).await;
    let id = Uuid::now_v7();
    b.post_csrf(
        "/me/balance/recharge",
        &[
            ("id", &id.to_string()),
            ("package", &package.to_string()),
            ("provider", "wechat_pay"),
        ],
    )
    .await;
    assert!(f.wechat.pay_silently(&id.simple().to_string()));
    eventually(
        "the settler credits it",
        Duration::from_secs(15),
        || async { (split(app, member).await == (yuan("100.00"), yuan("10.00"))).then_some(()) },
    )
    .await
    .unwrap();
}
on_both!(a_lost_recharge_notification_is_found_by_the_settler);

/// The PIN: set once (weak and mismatched ones refused), needed for the balance, wrong ones
/// counted and locked after five.
async fn the_payment_pin_guards_the_balance(f: Fixture) {
    let app = &f.app;
    let package = package_100_plus_10(app).await;
    let phone = "13800139004";
    let mut b = shopper(app, phone).await;
    let member = member_id(app, phone).await;
    recharge(&f, &mut b, package).await;
    let (order, _) = shop_order(app, &mut b, "1").await;
    let page = b.get(&format!("/orders/{order}")).await;
    assert!(
        page.body.contains("id=\"set-pin\""),
        "no PIN yet: asked to set one"
    );
    // Without a PIN the balance cannot pay.
    let went = pay_with_balance(&mut b, order, Uuid::now_v7(), "1.00", "258036").await;
    assert!(went.ends_with("pay_error=no_pin"), "{went}");
    for (pin, again, error) in [
        ("123456", "123456", "weak"),
        ("258036", "258037", "mismatch"),
    ] {
        let page = b
            .post_csrf(
                "/me/pay-pin",
                &[("pin", pin), ("pin_again", again), ("back", "/me/balance")],
            )
            .await;
        assert!(page.location.unwrap().contains(&format!("error={error}")));
    }
    let page = b
        .post_csrf(
            "/me/pay-pin",
            &[
                ("pin", "258036"),
                ("pin_again", "258036"),
                ("back", "/me/balance"),
            ],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/me/balance?done=pin"));
    // Changing it needs the current one.
    let page = b
        .post_csrf("/me/pay-pin", &[("pin", "147025"), ("pin_again", "147025")])
        .await;
    assert!(page.location.unwrap().contains("error=pin"));
    // Wrong PINs change nothing and lock the balance after five.
    for _ in 0..4 {
        let went = pay_with_balance(&mut b, order, Uuid::now_v7(), "1.00", "000001").await;
        assert!(went.ends_with("pay_error=pin"), "{went}");
    }
    let went = pay_with_balance(&mut b, order, Uuid::now_v7(), "1.00", "000001").await;
    assert!(went.ends_with("pay_error=locked"), "{went}");
    let went = pay_with_balance(&mut b, order, Uuid::now_v7(), "1.00", "147025").await;
    assert!(
        went.ends_with("pay_error=locked"),
        "locked even for the current PIN: {went}"
    );
    assert_eq!(status_of(app, order).await, "pending_payment");
    assert_eq!(split(app, member).await, (yuan("100.00"), yuan("10.00")));
}
on_both!(the_payment_pin_guards_the_balance);

/// The balance pays part of an order and WeChat Pay the rest; cancelling the paid order gives
/// each part back to its tender. Another order paid wholly from the balance takes principal
/// first, then bonus.
async fn the_balance_pays_alone_or_split_with_wechat_pay(f: Fixture) {
    let app = &f.app;
    let package = package_100_plus_10(app).await;
    let phone = "13800139005";
    let mut b = shopper(app, phone).await;
    let member = member_id(app, phone).await;
    recharge(&f, &mut b, package).await;
    b.post_csrf("/me/pay-pin", &[("pin", "258036"), ("pin_again", "258036")])
        .await;

    // Split: ¥1.00 from the balance, the rest by WeChat Pay.
    let (order, total) = shop_order(app, &mut b, "1").await;
    let balance_payment = Uuid::now_v7();
    let went = pay_with_balance(&mut b, order, balance_payment, "1.00", "258036").await;
    assert_eq!(went, format!("/orders/{order}"));
    // A retry (the same form sent twice) takes nothing more.
    pay_with_balance(&mut b, order, balance_payment, "1.00", "258036").await;
    assert_eq!(split(app, member).await, (yuan("99.00"), yuan("10.00")));
    assert_eq!(status_of(app, order).await, "pending_payment");
    let left = total.checked_sub(yuan("1.00")).unwrap();
    let page = b.get(&format!("/orders/{order}")).await;
    assert!(
        page.body.contains("id=\"paid-by-balance\""),
        "{}",
        page.body
    );
    // More than is left is refused.
    let went = pay_with_balance(&mut b, order, Uuid::now_v7(), &total.to_string(), "258036").await;
    assert!(went.ends_with("pay_error=amount"), "{went}");
    let page = b
        .post_csrf(
            &format!("/orders/{order}/pay"),
            &[("provider", "wechat_pay")],
        )
        .await;
    let pay_page = page.location.unwrap();
    let wechat_payment: Uuid = pay_page.rsplit('/').next().unwrap().parse().unwrap();
    let payment = retail_server::storage::payments::get(&app.state.store, wechat_payment)
        .await
        .unwrap();
    assert_eq!(payment.amount, left, "WeChat Pay is asked for what is left");
    let sent = f
        .wechat
        .pay(&wechat_payment.simple().to_string())
        .await
        .unwrap();
    assert_eq!(sent.answer, Some(204));
    assert_eq!(status_of(app, order).await, "paid");

    // Cancelled by the store: each part goes back to its tender.
    let manager = app.login("admin").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/cancel"),
            Some(&manager),
            json!({"reason": "test"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(split(app, member).await, (yuan("100.00"), yuan("10.00")));
    let refunds = retail_server::storage::refunds::of_order(&app.state.store, order)
        .await
        .unwrap();
    assert!(
        refunds
            .iter()
            .any(|r| r.method == "wechat_pay" && r.amount == left),
        "{refunds:?}"
    );

    // Wholly from the balance: paid at once.
    let (order, total) = shop_order(app, &mut b, "1").await;
    let went = pay_with_balance(&mut b, order, Uuid::now_v7(), &total.to_string(), "258036").await;
    assert_eq!(went, format!("/orders/{order}"));
    assert_eq!(status_of(app, order).await, "paid");
    assert_eq!(
        split(app, member).await,
        (yuan("100.00").checked_sub(total).unwrap(), yuan("10.00"))
    );
}
on_both!(the_balance_pays_alone_or_split_with_wechat_pay);

/// Spending takes principal first and bonus last; a pending order cancelled by the shopper after
/// its balance part was paid gives it back, bonus in the share it was taken.
async fn a_cancelled_pending_order_gives_the_balance_part_back(f: Fixture) {
    let app = &f.app;
    let admin = app.login("admin").await;
    let package = Uuid::now_v7();
    let (status, _) = app
        .post(
            "/api/v1/recharge-packages",
            Some(&admin),
            json!({"id": package, "name": "充1送1", "pay": "1.00", "bonus": "1.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let phone = "13800139006";
    let mut b = shopper(app, phone).await;
    let member = member_id(app, phone).await;
    recharge(&f, &mut b, package).await;
    assert_eq!(split(app, member).await, (yuan("1.00"), yuan("1.00")));
    b.post_csrf("/me/pay-pin", &[("pin", "258036"), ("pin_again", "258036")])
        .await;
    let (order, _) = shop_order(app, &mut b, "1").await;
    pay_with_balance(&mut b, order, Uuid::now_v7(), "1.50", "258036").await;
    assert_eq!(split(app, member).await, (Money::ZERO, yuan("0.50")));
    b.post_csrf(&format!("/orders/{order}/cancel"), &[]).await;
    assert_eq!(status_of(app, order).await, "cancelled");
    assert_eq!(split(app, member).await, (yuan("1.00"), yuan("1.00")));
}
on_both!(a_cancelled_pending_order_gives_the_balance_part_back);

/// A forgotten PIN is reset with a code sent to the member's own phone (the demo shows it); a
/// number that is not the member's gets no code, a wrong code changes nothing.
async fn a_forgotten_pin_is_reset_by_a_code_to_the_member_s_phone(f: Fixture) {
    let app = &f.app;
    let package = package_100_plus_10(app).await;
    let phone = "13800139008";
    let mut b = shopper(app, phone).await;
    recharge(&f, &mut b, package).await;
    b.post_csrf("/me/pay-pin", &[("pin", "258036"), ("pin_again", "258036")])
        .await;
    assert!(b
        .get("/me/pay-pin")
        .await
        .body
        .contains("id=\"forgot-pin\""));
    let page = b
        .post_csrf("/me/pay-pin/reset/code", &[("phone", "13800139999")])
        .await;
    assert!(
        page.body.contains("id=\"pin-error\""),
        "not the member's number"
    );
    assert!(!page.body.contains("id=\"sms-code\""));
    // One code per phone per `sms.resend_after_secs` (1 s here): the log-in's was the last.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let page = b
        .post_csrf("/me/pay-pin/reset/code", &[("phone", phone)])
        .await;
    let code = if page.body.contains("id=\"sms-code\"") {
        between(&page.body, "id=\"sms-code\">", "<").to_owned()
    } else {
        panic!("no code shown: {}", page.body);
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let page = b
        .post_csrf(
            "/me/pay-pin/reset",
            &[
                ("phone", phone),
                ("code", wrong),
                ("pin", "147025"),
                ("pin_again", "147025"),
            ],
        )
        .await;
    assert!(page.body.contains("id=\"pin-error\""));
    let page = b
        .post_csrf(
            "/me/pay-pin/reset",
            &[
                ("phone", phone),
                ("code", &code),
                ("pin", "147025"),
                ("pin_again", "147025"),
            ],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/me/balance?done=pin"),
        "{}",
        page.body
    );
    let (order, total) = shop_order(app, &mut b, "1").await;
    let went = pay_with_balance(&mut b, order, Uuid::now_v7(), "1.00", "258036").await;
    assert!(
        went.ends_with("pay_error=pin"),
        "the old PIN no longer pays: {went}"
    );
    let went = pay_with_balance(&mut b, order, Uuid::now_v7(), &total.to_string(), "147025").await;
    assert_eq!(went, format!("/orders/{order}"));
    assert_eq!(status_of(app, order).await, "paid");
}
on_both!(a_forgotten_pin_is_reset_by_a_code_to_the_member_s_phone);
