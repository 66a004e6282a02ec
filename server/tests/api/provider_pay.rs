//! Online payments through the real provider clients against the local fakes (WeChat Pay API
//! v3, Alipay), on SQLite and PostgreSQL: QR prepay, the provider's notification paying the
//! order once (retries and replays answered as taken, forgeries refused), money that arrives
//! after its order was cancelled (recorded, refunded, alerted), a lost notification found by the
//! settler, a provider that does not answer, and a paid order's cancellation refunded to the
//! tender and followed to the provider's final word.

use reqwest::StatusCode;
use retail_testkit::alipay::FakeAlipay;
use retail_testkit::payments::{alipay_settings, wechat_settings};
use retail_testkit::wechat_pay::{FakeWechatPay, Mode, Tamper};
use retail_testkit::{eventually, Backend};
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

use crate::support::TestApp;

/// A test server that takes money through both fakes.
pub(crate) struct Providers {
    pub(crate) app: TestApp,
    pub(crate) wechat: FakeWechatPay,
    pub(crate) alipay: FakeAlipay,
    _keys: tempfile::TempDir,
}

/// A test server on `backend` whose WeChat Pay (with the official account's authorisation) and
/// Alipay are the fakes.
pub(crate) async fn start(backend: Backend) -> Option<Providers> {
    let wechat = FakeWechatPay::start();
    let alipay = FakeAlipay::start();
    let keys = tempfile::tempdir().unwrap();
    let w = wechat_settings(&wechat, keys.path());
    let a = alipay_settings(&alipay, keys.path());
    let app = TestApp::spawn_with(backend, move |s| {
        s.payments.wechat = w;
        s.payments.alipay = a;
        s.payments.settle_after_secs = 1;
        s.payments.provider_timeout_millis = 1_500;
    })
    .await?;
    Some(Providers {
        app,
        wechat,
        alipay,
        _keys: keys,
    })
}

/// `on_both!(name)`: the scenario `name(Providers)` on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let p = super::start(retail_testkit::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                super::$name(p).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(p) = super::start(retail_testkit::Backend::Postgres).await {
                    super::$name(p).await;
                }
            }
        }
    };
}
pub(crate) use on_both;

/// A pending pickup order of one unit of a stocked SKU: (order id, total, access token).
pub(crate) async fn pending_order(app: &TestApp) -> (String, String, String) {
    let token = app.login("admin").await;
    let sku = stocked_sku(app, &token).await;
    let response = app
        .client
        .post(format!("{}/api/v1/orders", app.url))
        .json(
            &json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
            "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let order: Value = response.json().await.unwrap();
    let access = order["access_token"].as_str().unwrap().to_owned();
    (
        order["id"].as_str().unwrap().to_owned(),
        order["total"].as_str().unwrap().to_owned(),
        access,
    )
}

/// A SKU with more than five units available at SH001 (`admin`: head office's token).
pub(crate) async fn stocked_sku(app: &TestApp, admin: &str) -> Value {
    let (_, stock) = app
        .get("/api/v1/stock?location_id=SH001&limit=20", Some(admin))
        .await;
    let rows = stock
        .get("items")
        .unwrap_or(&stock)
        .as_array()
        .unwrap()
        .clone();
    rows.iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > 5)
        .expect("a stocked SKU")["sku_id"]
        .clone()
}

pub(crate) async fn start_payment(
    app: &TestApp,
    order_id: &str,
    id: Uuid,
    provider: &str,
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/orders/{order_id}/payments"),
        None,
        json!({"id": id, "provider": provider}),
    )
    .await
}

async fn order(app: &TestApp, order_id: &str) -> Value {
    let token = app.login("admin").await;
    app.get(&format!("/api/v1/orders/{order_id}"), Some(&token))
        .await
        .1
}

pub(crate) fn paid_events(order: &Value) -> usize {
    order["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "paid")
        .count()
}

async fn payment_row(app: &TestApp, id: Uuid) -> retail_server::storage::payments::PaymentView {
    retail_server::storage::payments::get(&app.state.store, id)
        .await
        .unwrap()
}

async fn alert_kinds(app: &TestApp) -> Vec<(String, Option<String>)> {
    retail_server::storage::payment_review::alerts(&app.state.store, false, 0, 100)
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|a| (a.kind, a.payment_id))
        .collect()
}

/// The refund as WeChat Pay got it, once it has.
async fn refund_at_wechat(
    p: &Providers,
    refund_no: &str,
) -> retail_testkit::wechat_pay::FakeRefund {
    eventually(
        "the refund reaches WeChat Pay",
        Duration::from_secs(10),
        || async { p.wechat.refund(refund_no) },
    )
    .await
    .unwrap()
}

/// WeChat Pay Native: the QR, the notification paying the order once, replays and forgeries.
async fn wechat_qr_payment_pays_the_order_once(p: Providers) {
    let app = &p.app;
    let (order_id, total, _) = pending_order(app).await;
    let payment_id = Uuid::now_v7();
    let (status, intent) = start_payment(app, &order_id, payment_id, "wechat_pay").await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    assert_eq!(intent["prepay"]["kind"], "qr_code");
    let code_url = intent["pay_url"].as_str().unwrap().to_owned();
    assert!(code_url.starts_with("weixin://wxpay/"), "{code_url}");
    assert_eq!(intent["payment"]["method"], "wechat_pay");
    // A retry answers the same QR and places no second trade.
    let requests = p.wechat.requests();
    let (_, again) = start_payment(app, &order_id, payment_id, "wechat_pay").await;
    assert_eq!(again["pay_url"], code_url);
    assert_eq!(p.wechat.requests(), requests);
    let out_trade_no = payment_id.simple().to_string();
    let trade = p
        .wechat
        .trade(&out_trade_no)
        .expect("the fake has the trade");
    assert_eq!(
        trade.notify_url.as_deref(),
        Some(format!("{}/api/v1/payments/wechat_pay/notify", app.url).as_str())
    );

    // Forged, wrongly keyed, stale and tampered notifications are refused before the shopper
    // pays, and after.
    let sent = p.wechat.pay(&out_trade_no).await.expect("paid");
    assert_eq!(sent.answer, Some(204));
    let order_now = order(app, &order_id).await;
    assert_eq!(order_now["status"], "paid", "{order_now}");
    assert_eq!(paid_events(&order_now), 1);
    let payment = payment_row(app, payment_id).await;
    assert_eq!(payment.status, "succeeded");
    assert_eq!(payment.amount.to_string(), total);
    assert!(payment.transaction_id.is_some());
    for tamper in [
        Tamper::ForgedSignature,
        Tamper::WrongSerial,
        Tamper::Stale,
        Tamper::TamperedCiphertext,
        Tamper::TamperedBody,
    ] {
        let bad = p
            .wechat
            .notification_of_payment(&out_trade_no, tamper)
            .unwrap();
        let answered = p.wechat.deliver(bad).await;
        assert_eq!(answered.answer, Some(401), "{tamper:?}");
    }
    // WeChat Pay retries until it is answered: a replay is taken and changes nothing.
    let replayed = p.wechat.replay(&sent.id).await.unwrap();
    assert_eq!(replayed.answer, Some(204));
    let order_now = order(app, &order_id).await;
    assert_eq!(paid_events(&order_now), 1, "{order_now}");
    assert!(alert_kinds(app).await.is_empty());
}
on_both!(wechat_qr_payment_pays_the_order_once);

/// Alipay precreate: the QR, the notification answered `success`, replays, forgeries.
async fn alipay_qr_payment_pays_the_order_once(p: Providers) {
    let app = &p.app;
    let (order_id, _, _) = pending_order(app).await;
    let payment_id = Uuid::now_v7();
    let (status, intent) = start_payment(app, &order_id, payment_id, "alipay").await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    assert_eq!(intent["prepay"]["kind"], "qr_code");
    let out_trade_no = payment_id.simple().to_string();
    assert!(p.alipay.pay(&out_trade_no));
    // The fake records its notification once it has the answer, which comes after the commit
    // the order's status shows: wait for both.
    eventually(
        "the order is paid and the notification answered",
        Duration::from_secs(10),
        || async {
            (order(app, &order_id).await["status"] == "paid"
                && !p.alipay.notifications().is_empty())
            .then_some(())
        },
    )
    .await
    .unwrap();
    let sent = p.alipay.notifications();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].answer.as_ref().map(|(s, b)| (*s, b.as_str())),
        Some((200, "success"))
    );
    // Replayed: taken again, nothing changes.
    let answer = p.alipay.replay(0).await.unwrap();
    assert_eq!(answer, (200, "success".to_owned()));
    assert_eq!(paid_events(&order(app, &order_id).await), 1);
    // Forged, and tampered after signing: refused with `failure`, nothing changes.
    let genuine = p.alipay.paid_notification(&out_trade_no).unwrap();
    let url = format!("{}/api/v1/payments/alipay/notify", app.url);
    for body in [
        FakeAlipay::tamper(&genuine, "total_amount", "0.01"),
        FakeAlipay::tamper(
            &genuine,
            "out_trade_no",
            &Uuid::now_v7().simple().to_string(),
        ),
    ] {
        let response = app
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.text().await.unwrap(), "failure");
    }
    assert_eq!(paid_events(&order(app, &order_id).await), 1);
    assert!(alert_kinds(app).await.is_empty());
}
on_both!(alipay_qr_payment_pays_the_order_once);

/// Money that arrives after its order was cancelled is recorded, refunded through the provider
/// (followed to its final state by the refund notification) and shown to head office.
async fn a_payment_after_cancel_is_refunded_and_alerted(p: Providers) {
    let app = &p.app;
    let (order_id, total, access) = pending_order(app).await;
    let payment_id = Uuid::now_v7();
    let (status, _) = start_payment(app, &order_id, payment_id, "wechat_pay").await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .client
        .post(format!("{}/api/v1/orders/{order_id}/cancel", app.url))
        .header("x-order-token", &access)
        .json(&json!({"reason": "changed my mind"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let out_trade_no = payment_id.simple().to_string();
    let sent = p.wechat.pay(&out_trade_no).await.expect("paid late");
    assert_eq!(sent.answer, Some(204), "taken: the money is recorded");
    let order_now = order(app, &order_id).await;
    assert_eq!(order_now["status"], "cancelled");
    assert_eq!(paid_events(&order_now), 0);
    let payment = payment_row(app, payment_id).await;
    assert_eq!(payment.status, "refunded");
    assert_eq!(payment.refunded.to_string(), total);
    let kinds = alert_kinds(app).await;
    assert!(
        kinds.contains(&("late_payment".to_owned(), Some(payment_id.to_string()))),
        "{kinds:?}"
    );
    // The refund reaches WeChat Pay for the whole amount, then settles by its notification.
    let order_uuid: Uuid = order_id.parse().unwrap();
    let refunds = retail_server::storage::refunds::of_order(&app.state.store, order_uuid)
        .await
        .unwrap();
    assert_eq!(refunds.len(), 1);
    let refund_no = refunds[0].id.simple().to_string();
    let at_provider = refund_at_wechat(&p, &refund_no).await;
    assert_eq!(
        at_provider.amount.to_string(),
        payment.amount.fen().to_string()
    );
    assert_eq!(at_provider.out_trade_no, out_trade_no);
    let settled = p.wechat.settle_refund(&refund_no, "SUCCESS").await.unwrap();
    assert_eq!(settled.answer, Some(204));
    let refund = retail_server::storage::refunds::get(&app.state.store, refunds[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        refund.state,
        retail_server::storage::refunds::RefundStatus::Success
    );
    // The same notification again changes nothing.
    assert_eq!(
        p.wechat.replay(&settled.id).await.unwrap().answer,
        Some(204)
    );
    // The payment was not counted twice and the notification again is still one payment.
    assert_eq!(p.wechat.replay(&sent.id).await.unwrap().answer, Some(204));
    assert_eq!(
        retail_server::storage::refunds::of_order(&app.state.store, order_uuid)
            .await
            .unwrap()
            .len(),
        1
    );
}
on_both!(a_payment_after_cancel_is_refunded_and_alerted);

/// A notification that never arrives: the settler asks WeChat Pay and pays the order.
async fn a_lost_notification_is_found_by_the_settler(p: Providers) {
    let app = &p.app;
    let (order_id, _, _) = pending_order(app).await;
    let payment_id = Uuid::now_v7();
    let (status, _) = start_payment(app, &order_id, payment_id, "wechat_pay").await;
    assert_eq!(status, StatusCode::OK);
    assert!(p.wechat.pay_silently(&payment_id.simple().to_string()));
    eventually(
        "the settler finds it paid",
        Duration::from_secs(20),
        || async { (order(app, &order_id).await["status"] == "paid").then_some(()) },
    )
    .await
    .unwrap();
    assert_eq!(paid_events(&order(app, &order_id).await), 1);
}
on_both!(a_lost_notification_is_found_by_the_settler);

/// A provider that fails leaves the payment pending and nothing decided; the retry succeeds.
async fn a_provider_that_does_not_answer_decides_nothing(p: Providers) {
    let app = &p.app;
    let (order_id, _, _) = pending_order(app).await;
    let payment_id = Uuid::now_v7();
    for mode in [
        Mode::ServerError,
        Mode::Garbled,
        Mode::BadSignature,
        Mode::Slow(Duration::from_secs(3)),
    ] {
        p.wechat.set_mode(mode);
        let (status, body) = start_payment(app, &order_id, payment_id, "wechat_pay").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{mode:?}: {body}");
        assert_eq!(payment_row(app, payment_id).await.status, "pending");
        assert_eq!(order(app, &order_id).await["status"], "pending_payment");
    }
    p.wechat.set_mode(Mode::Normal);
    let (status, intent) = start_payment(app, &order_id, payment_id, "wechat_pay").await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    assert!(intent["pay_url"].as_str().unwrap().starts_with("weixin://"));
}
on_both!(a_provider_that_does_not_answer_decides_nothing);

/// A paid order the store cancels goes back to the shopper's WeChat Pay; the console's staff
/// see the refund follow WeChat Pay's answers to its final state.
async fn a_cancelled_paid_order_is_refunded_to_the_tender(p: Providers) {
    let app = &p.app;
    let (order_id, _, _) = pending_order(app).await;
    let payment_id = Uuid::now_v7();
    start_payment(app, &order_id, payment_id, "wechat_pay").await;
    let out_trade_no = payment_id.simple().to_string();
    p.wechat.pay(&out_trade_no).await.unwrap();
    let token = app.login("admin").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(&token),
            json!({"reason": "out of stock"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let order_uuid: Uuid = order_id.parse().unwrap();
    let refunds = retail_server::storage::refunds::of_order(&app.state.store, order_uuid)
        .await
        .unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].source, "cancel");
    let refund_no = refunds[0].id.simple().to_string();
    refund_at_wechat(&p, &refund_no).await;
    // WeChat Pay closes it without paying out: final, the payment has it back to refund, and
    // head office is told.
    p.wechat.settle_refund(&refund_no, "CLOSED").await.unwrap();
    let refund = retail_server::storage::refunds::get(&app.state.store, refunds[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        refund.state,
        retail_server::storage::refunds::RefundStatus::Closed
    );
    assert_eq!(payment_row(app, payment_id).await.refunded.fen(), 0);
    let kinds = alert_kinds(app).await;
    assert!(
        kinds
            .iter()
            .any(|(k, p)| k == "refund_failed"
                && p.as_deref() == Some(payment_id.to_string().as_str())),
        "{kinds:?}"
    );
}
on_both!(a_cancelled_paid_order_is_refunded_to_the_tender);
