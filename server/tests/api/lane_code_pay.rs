//! The payment code (付款码) at a lane (issue 14): `POST /pos/payments/code` charged through the
//! real WeChat Pay and Alipay clients against the kit's fake providers (journal first, retries
//! charge once, the payer confirming then paid, refusals, a provider that hangs: pending, then
//! queried, then reversed), the provider picked by the code (the sandbox in demo mode when that
//! provider is not configured, 503 otherwise), malformed codes refused, the background settler,
//! and the sale pushed later with a `wechat_pay` tender counted once.

use std::future::Future;

use reqwest::StatusCode;
use retail_testkit::alipay::{self, FakeAlipay, Settle};
use retail_testkit::payments::{alipay_settings, wechat_settings};
use retail_testkit::wechat_pay::{CodeBehaviour, FakeWechatPay};
use retail_testkit::Backend;
use serde_json::{json, Value};

use crate::sales::{get_sale, money, new_id, push, register_lane, sale, sku_ids};
use crate::support::TestApp;

/// A WeChat Pay payment code (18 digits, 10–15).
const WECHAT_CODE: &str = "134567890123456789";
/// An Alipay payment code (16–24 digits, 25–30).
const ALIPAY_CODE: &str = "286543210987654321";

/// A server taking money through the real clients against fresh fakes.
struct Providers {
    app: TestApp,
    wechat: FakeWechatPay,
    alipay: FakeAlipay,
    _keys: tempfile::TempDir,
}

/// Runs `body` against a server on `backend` with WeChat Pay and Alipay configured against
/// fakes (1.5 s provider timeout); the PostgreSQL half is skipped as `both_backends!` does.
async fn with_providers<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Providers) -> Fut,
    Fut: Future<Output = ()>,
{
    let wechat = FakeWechatPay::start();
    let alipay = FakeAlipay::start();
    let keys = tempfile::tempdir().unwrap();
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.payments.wechat = wechat_settings(&wechat, keys.path());
        s.payments.alipay = alipay_settings(&alipay, keys.path());
        s.payments.provider_timeout_millis = 1_500;
    })
    .await
    else {
        return;
    };
    body(Providers {
        app,
        wechat,
        alipay,
        _keys: keys,
    })
    .await;
}

/// `both_backends!` for tests that need the fake providers configured.
macro_rules! with_providers {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::with_providers(retail_testkit::Backend::Sqlite, super::$body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::with_providers(retail_testkit::Backend::Postgres, super::$body).await;
            }
        }
    };
}

async fn charge(
    app: &TestApp,
    lane: &str,
    id: &str,
    sale_id: &str,
    fen: i64,
    code: &str,
) -> (StatusCode, Value) {
    app.post(
        "/api/v1/pos/payments/code",
        Some(lane),
        json!({"id": id, "sale_id": sale_id, "amount": money(fen), "auth_code": code}),
    )
    .await
}

async fn lane_of(app: &TestApp) -> (String, String) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(app, &admin, "SH001", "Lane 1").await;
    (admin, lane)
}

/// A sale of one line of 12.34 × 2, paid `fen` with the provider's tender `tender` (payment
/// `id`) and the rest in cash.
pub(crate) fn provider_sale(
    sku: &str,
    sale_id: &str,
    tender: &str,
    id: &str,
    fen: i64,
    provider_ref: Option<&str>,
) -> Value {
    let mut s = sale("SH001", None, &[(sku, 2, 1_234)], &[]);
    s["id"] = json!(sale_id);
    s["payments"] = json!([
        {"id": new_id(), "method": "cash", "amount": money(2_468 - fen)},
        {"id": id, "method": tender, "amount": money(fen), "provider_ref": provider_ref},
    ]);
    s
}

/// Pushes `sale`, which names the paid lane payment at `payment_path`, twice: applied, then a
/// duplicate; the payment is taken by it. Answers the sale as stored.
pub(crate) async fn taken_once(
    app: &TestApp,
    admin: &str,
    lane: &str,
    sale: Value,
    payment_path: &str,
) -> Value {
    let results = push(app, lane, std::slice::from_ref(&sale)).await;
    assert_eq!(results[0]["outcome"], "applied", "{}", results[0]);
    let results = push(app, lane, std::slice::from_ref(&sale)).await;
    assert_eq!(results[0]["outcome"], "duplicate");
    let (_, taken) = app.get(payment_path, Some(lane)).await;
    assert_eq!(taken["order_id"], sale["id"]);
    let (status, stored) = get_sale(app, admin, sale["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    stored
}

/// Paid at once through WeChat Pay: journalled, charged once (a retry asks nothing of the
/// provider), taken by exactly one sale whose push names it as `wechat_pay`; a sale naming a
/// made-up payment, the payment as another tender, or the payment again is refused.
async fn a_wechat_code_is_charged_once_and_its_sale_counted_once(p: Providers) {
    let Providers { app, wechat, .. } = p;
    let (admin, lane) = lane_of(&app).await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    let (sale_id, pay_id) = (new_id(), new_id());

    let (status, paid) = charge(&app, &lane, &pay_id, &sale_id, 1_000, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["method"], "wechat_pay");
    assert_eq!(paid["pay_url"], "");
    let out_trade_no = pay_id.replace('-', "");
    let trade = wechat
        .trade(&out_trade_no)
        .expect("the trade at WeChat Pay");
    assert_eq!(
        (trade.trade_state.as_str(), trade.amount),
        ("SUCCESS", 1_000)
    );
    assert_eq!(paid["provider_ref"], json!(trade.transaction_id));
    assert_eq!(trade.request["payer"]["auth_code"], WECHAT_CODE);
    assert_eq!(trade.request["scene_info"]["store_info"]["out_id"], "SH001");

    // The retry (the lane lost the answer) answers the same and asks the provider nothing.
    let before = wechat.requests();
    let (status, again) = charge(&app, &lane, &pay_id, &sale_id, 1_000, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, paid);
    assert_eq!(
        wechat.requests(),
        before,
        "a settled payment is not asked about"
    );
    let (status, body) = charge(&app, &lane, &pay_id, &sale_id, 1_100, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "id_in_use");
    let (status, body) = charge(&app, &lane, &pay_id, &new_id(), 1_000, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Paid: too late to cancel.
    let path = format!("/api/v1/pos/payments/{pay_id}");
    let (status, body) = app
        .post(&format!("{path}/cancel"), Some(&lane), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_paid");

    // A made-up payment, and the real one named as another tender: refused, nothing taken.
    let made_up = provider_sale(
        &sku,
        &new_id(),
        "wechat_pay",
        &new_id(),
        1_000,
        Some("4200X"),
    );
    let results = push(&app, &lane, &[made_up]).await;
    assert_eq!(results[0]["outcome"], "rejected", "{}", results[0]);
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap()
            .contains("unknown to the server"),
        "{}",
        results[0]
    );
    let as_alipay = provider_sale(&sku, &sale_id, "alipay", &pay_id, 1_000, None);
    let results = push(&app, &lane, &[as_alipay]).await;
    assert_eq!(results[0]["outcome"], "rejected", "{}", results[0]);

    // The sale takes it, once; the stored tender is WeChat Pay with the transaction id.
    let good = provider_sale(&sku, &sale_id, "wechat_pay", &pay_id, 1_000, None);
    let stored = taken_once(&app, &admin, &lane, good, &path).await;
    assert_eq!(stored["total"], "24.68");
    let mut tx = app.state.store.begin().await.unwrap();
    let (method, provider_ref): (String, Option<String>) = {
        use sqlx::Row;
        let row = sqlx::query("SELECT method, provider_ref FROM payments WHERE id = $1")
            .bind(&pay_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        (row.get("method"), row.get("provider_ref"))
    };
    tx.commit().await.unwrap();
    assert_eq!(method, "wechat_pay");
    assert_eq!(provider_ref, Some(trade.transaction_id.clone()));
    let again = provider_sale(&sku, &new_id(), "wechat_pay", &pay_id, 1_000, None);
    let results = push(&app, &lane, &[again]).await;
    assert_eq!(results[0]["outcome"], "rejected", "{}", results[0]);
}
with_providers!(
    a_wechat_code_is_charged_once_and_its_sale_counted_once,
    a_wechat_code_is_charged_once_and_its_sale_counted_once
);

/// The payer confirms on their phone (WeChat Pay and Alipay): `user_paying`, then the lane's
/// polls are answered from the provider's query until it is paid; a burst of polls queries the
/// provider at most once a second.
async fn a_code_the_payer_confirms_is_paid_after_queries(p: Providers) {
    let Providers {
        app,
        wechat,
        alipay,
        ..
    } = p;
    let (_, lane) = lane_of(&app).await;
    wechat.on_code(
        WECHAT_CODE,
        CodeBehaviour::UserPaying {
            queries: 1,
            then_paid: true,
        },
    );
    alipay.on_auth_code(
        ALIPAY_CODE,
        alipay::CodeBehaviour::UserPaying {
            queries: 1,
            then: Settle::Paid,
        },
    );
    for (code, method) in [(WECHAT_CODE, "wechat_pay"), (ALIPAY_CODE, "alipay")] {
        let (sale_id, pay_id) = (new_id(), new_id());
        let (status, first) = charge(&app, &lane, &pay_id, &sale_id, 1_234, code).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(first["status"], "user_paying", "{first}");
        assert_eq!(first["method"], method);
        assert!(first["provider_ref"].is_null());

        // A burst of polls: at most one query per second reaches the provider.
        let requests = || wechat.requests() + alipay.methods().len();
        let before = requests();
        let started = std::time::Instant::now();
        let path = format!("/api/v1/pos/payments/{pay_id}");
        for _ in 0..5 {
            let (status, _) = app.get(&path, Some(&lane)).await;
            assert_eq!(status, StatusCode::OK);
        }
        let queries = requests() - before;
        let allowed = usize::try_from(started.elapsed().as_secs()).unwrap() + 1;
        assert!(
            (1..=allowed).contains(&queries),
            "{queries} queries in {:?}",
            started.elapsed()
        );
        // Asked again (a second later): paid.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let paid = loop {
            let (_, now) = app.get(&path, Some(&lane)).await;
            if now["status"] != "user_paying" {
                break now;
            }
            assert!(std::time::Instant::now() < deadline, "never settled: {now}");
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        };
        assert_eq!(paid["status"], "succeeded", "{paid}");
        assert!(paid["provider_ref"].as_str().is_some_and(|r| !r.is_empty()));
    }
}
with_providers!(
    a_code_the_payer_confirms_is_paid_after_queries,
    a_code_the_payer_confirms_is_paid_after_queries
);

/// A refused code (balance short, a used code): `failed` with the provider's reason, final;
/// cancelling answers it as it is, and a sale naming it is refused.
async fn a_refused_code_fails_with_the_providers_reason(p: Providers) {
    let Providers {
        app,
        wechat,
        alipay,
        ..
    } = p;
    let (admin, lane) = lane_of(&app).await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    wechat.on_code(
        WECHAT_CODE,
        CodeBehaviour::Fail {
            status: 403,
            code: "NOTENOUGH".into(),
            message: "用户余额不足".into(),
        },
    );
    alipay.on_auth_code(
        ALIPAY_CODE,
        alipay::CodeBehaviour::Fail {
            sub_code: "ACQ.PAYMENT_AUTH_CODE_INVALID".into(),
            sub_msg: "支付失败，获取顾客账户信息失败".into(),
        },
    );
    for (code, reason) in [
        (WECHAT_CODE, "余额不足"),
        (ALIPAY_CODE, "AUTH_CODE_INVALID"),
    ] {
        let (sale_id, pay_id) = (new_id(), new_id());
        let (status, failed) = charge(&app, &lane, &pay_id, &sale_id, 1_000, code).await;
        assert_eq!(status, StatusCode::OK, "{failed}");
        assert_eq!(failed["status"], "failed", "{failed}");
        assert!(
            failed["failure"].as_str().unwrap_or("").contains(reason),
            "{failed}"
        );
        let path = format!("/api/v1/pos/payments/{pay_id}");
        let (status, cancelled) = app
            .post(&format!("{path}/cancel"), Some(&lane), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled, failed);
        let tender = failed["method"].as_str().unwrap().to_owned();
        let results = push(
            &app,
            &lane,
            &[provider_sale(&sku, &sale_id, &tender, &pay_id, 1_000, None)],
        )
        .await;
        assert!(
            results[0]["error"]
                .as_str()
                .unwrap_or("")
                .contains("was not paid (it is failed)"),
            "{}",
            results[0]
        );
    }
}
with_providers!(
    a_refused_code_fails_with_the_providers_reason,
    a_refused_code_fails_with_the_providers_reason
);

/// The provider hangs: the charge stays `pending` (nothing guessed); a retry with the same id
/// queries instead of charging again; the query finds the payer confirming; the lane's cancel
/// reverses the trade at the provider. A second hung payment left alone is queried and
/// reversed by the background settler once it is five minutes old.
async fn a_hanging_provider_leaves_it_pending_then_it_is_reversed(p: Providers) {
    let Providers { app, wechat, .. } = p;
    let (_, lane) = lane_of(&app).await;
    wechat.on_code(WECHAT_CODE, CodeBehaviour::Hang);
    let (sale_id, pay_id) = (new_id(), new_id());
    let (status, pending) = charge(&app, &lane, &pay_id, &sale_id, 1_000, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::OK, "{pending}");
    assert_eq!(pending["status"], "pending", "{pending}");
    let out_trade_no = pay_id.replace('-', "");
    assert_eq!(
        wechat.trade(&out_trade_no).map(|t| t.trade_state),
        Some("USERPAYING".into())
    );

    // The retry queries (a second charge of the same trade would be refused as a duplicate).
    let (status, retried) = charge(&app, &lane, &pay_id, &sale_id, 1_000, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["status"], "user_paying", "{retried}");

    // The lane gives up waiting: reversed at the provider.
    let path = format!("/api/v1/pos/payments/{pay_id}");
    let (status, reversed) = app
        .post(&format!("{path}/cancel"), Some(&lane), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reversed}");
    assert_eq!(reversed["status"], "reversed", "{reversed}");
    assert_eq!(
        wechat.trade(&out_trade_no).map(|t| t.trade_state),
        Some("REVOKED".into())
    );
    let (status, again) = app
        .post(&format!("{path}/cancel"), Some(&lane), json!({}))
        .await;
    assert_eq!((status, &again), (StatusCode::OK, &reversed));

    // A provider that does not answer the reversal: 503, the payment stays open.
    let (left_sale, left) = (new_id(), new_id());
    let (_, body) = charge(&app, &lane, &left, &left_sale, 500, WECHAT_CODE).await;
    assert_eq!(body["status"], "pending", "{body}");
    wechat.set_mode(retail_testkit::wechat_pay::Mode::ServerError);
    let left_path = format!("/api/v1/pos/payments/{left}");
    let (status, body) = app
        .post(&format!("{left_path}/cancel"), Some(&lane), json!({}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    wechat.set_mode(retail_testkit::wechat_pay::Mode::Normal);
    let (_, body) = app.get(&left_path, Some(&lane)).await;
    assert!(
        body["status"] == "pending" || body["status"] == "user_paying",
        "{body}"
    );

    // The lane never comes back: the settler leaves it alone while it is young …
    retail_server::app::lane_payments::settle_stale(&app.state)
        .await
        .unwrap();
    let (_, body) = app.get(&left_path, Some(&lane)).await;
    assert_ne!(body["status"], "reversed", "{body}");
    // … and reverses it once it is five minutes old.
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE lane_payments SET created_at = $1, checked_at = NULL WHERE id = $2")
        .bind(chrono::Utc::now().timestamp_millis() - 6 * 60 * 1000)
        .bind(&left)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // (The server's own sweeper may be quicker than this call: either settles it once.)
    let settled = retail_server::app::lane_payments::settle_stale(&app.state)
        .await
        .unwrap();
    assert!(settled <= 1);
    let (_, body) = app.get(&left_path, Some(&lane)).await;
    assert_eq!(body["status"], "reversed", "{body}");
    assert_eq!(
        wechat.trade(&left.replace('-', "")).map(|t| t.trade_state),
        Some("REVOKED".into())
    );
}
with_providers!(
    a_hanging_provider_leaves_it_pending_then_it_is_reversed,
    a_hanging_provider_leaves_it_pending_then_it_is_reversed
);

/// What is no payment code is refused (422 naming `auth_code`), as are bad ids and amounts and
/// callers that are not lanes; nothing is recorded.
async fn malformed_codes_are_refused(app: TestApp) {
    let (admin, lane) = lane_of(&app).await;
    for code in ["6901234567892", "13456789012345678", "abc", ""] {
        let (status, body) = charge(&app, &lane, &new_id(), &new_id(), 100, code).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {body}");
        assert!(body["error"]["fields"]["auth_code"].is_string(), "{body}");
    }
    let (status, body) = charge(&app, &lane, &new_id(), &new_id(), 0, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let v4 = uuid::Uuid::new_v4().to_string();
    let (status, body) = charge(&app, &lane, &v4, &new_id(), 100, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = charge(&app, &admin, &new_id(), &new_id(), 100, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "staff are not lanes");
}
crate::both_backends!(malformed_codes_are_refused, malformed_codes_are_refused);

/// Without WeChat Pay configured: in demo mode the sandbox charges the code (recorded as
/// `sandbox_qr`, scene code); outside demo mode a WeChat code is 503 naming WeChat Pay, while
/// an Alipay code goes to the configured Alipay.
async fn an_unconfigured_provider_is_the_sandbox_in_demo_mode_else_503(app: TestApp) {
    let (_, lane) = lane_of(&app).await;
    let (sale_id, pay_id) = (new_id(), new_id());
    let (status, body) = charge(&app, &lane, &pay_id, &sale_id, 1_000, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["method"], "sandbox_qr");
    assert_eq!(body["pay_url"], "", "a code payment has no page");
    assert!(body["provider_ref"].as_str().unwrap().starts_with("SBX"));

    // The same database outside demo mode, with Alipay only.
    let mut app = app;
    app.stop().await.unwrap();
    let alipay = FakeAlipay::start();
    let keys = tempfile::tempdir().unwrap();
    let mut settings = app.settings.clone();
    settings.demo = false;
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.payments.alipay = alipay_settings(&alipay, keys.path());
    let app = TestApp::start(settings).await.unwrap();
    let (status, body) = charge(&app, &lane, &new_id(), &new_id(), 1_000, WECHAT_CODE).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("wechat_pay"),
        "{body}"
    );
    let (status, body) = charge(&app, &lane, &new_id(), &new_id(), 1_000, ALIPAY_CODE).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["method"].as_str()),
        (Some("succeeded"), Some("alipay")),
        "{body}"
    );
}
crate::both_backends!(
    an_unconfigured_provider_is_the_sandbox_in_demo_mode_else_503,
    an_unconfigured_provider_is_the_sandbox_in_demo_mode_else_503
);
