//! The WeChat Pay API v3 client against `retail_testkit::FakeWechatPay`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use chrono::Utc;
use retail_payments::wechat::{NotificationAnswer, WechatPay, WechatPayConfig};
use retail_payments::{
    BillLineKind, CodePayOutcome, CodePayRequest, Notification, Prepay, PrepayRequest, PrepayScene,
    ProviderError, RefundRequest, RefundState, TradeState,
};
use retail_testkit::wechat_pay::{CodeBehaviour, Mode, Tamper};
use retail_testkit::FakeWechatPay;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::Verifier;

fn no() -> String {
    uuid_like()
}

/// A fresh 32-character payment id.
fn uuid_like() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

fn client(fake: &FakeWechatPay) -> WechatPay {
    WechatPay::new(fake.config()).expect("the fake's configuration is complete")
}

/// What the receiver verified, in order.
type Received = Arc<Mutex<Vec<Result<Notification, String>>>>;

/// Notifications received at a local `notify_url`, verified by the client as the server will.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Received,
}

impl Receiver {
    fn got(&self) -> Vec<Result<Notification, String>> {
        self.got.lock().expect("lock").clone()
    }
}

async fn receiver(client: WechatPay) -> Receiver {
    let got: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!(
        "http://{}/notify/wechat",
        listener.local_addr().expect("addr")
    );
    async fn take(
        State((client, got)): State<(WechatPay, Received)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl IntoResponse {
        let verified = client.verify_notification(&headers, &body);
        let answer = match &verified {
            Ok(_) => NotificationAnswer::accepted(),
            Err(e) => NotificationAnswer::failed(401, &e.to_string()),
        };
        got.lock()
            .expect("lock")
            .push(verified.map_err(|e| format!("{e:?}")));
        (
            StatusCode::from_u16(answer.status).expect("status"),
            answer.body,
        )
    }
    let app = axum::Router::new()
        .route("/notify/wechat", axum::routing::post(take))
        .with_state((client, got.clone()));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, got }
}

fn prepay_request(out_trade_no: &str, scene: PrepayScene, notify_url: &str) -> PrepayRequest {
    PrepayRequest {
        out_trade_no: out_trade_no.to_owned(),
        description: "零售测试-上海店-订单".into(),
        amount_fen: 1999,
        notify_url: notify_url.to_owned(),
        expires_at: Utc::now() + chrono::Duration::minutes(15),
        scene,
    }
}

fn code_request(out_trade_no: &str, auth_code: &str, amount_fen: i64) -> CodePayRequest {
    CodePayRequest {
        out_trade_no: out_trade_no.to_owned(),
        description: "零售测试-上海店-收银".into(),
        amount_fen,
        auth_code: auth_code.to_owned(),
        store_id: "SH001".into(),
        device_id: "lane-01".into(),
        client_ip: "10.0.0.21".into(),
    }
}

fn is_unavailable<T: std::fmt::Debug>(r: &Result<T, ProviderError>) -> bool {
    matches!(r, Err(ProviderError::Unavailable { .. }))
}

fn is_malformed<T: std::fmt::Debug>(r: &Result<T, ProviderError>) -> bool {
    matches!(r, Err(ProviderError::Malformed { .. }))
}

fn rejected_code<T: std::fmt::Debug>(r: Result<T, ProviderError>) -> String {
    match r {
        Err(ProviderError::Rejected { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn prepay_in_the_three_scenes() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    let notify = "https://shop.example.com/api/v1/payments/notify/wechat";

    let native = no();
    let qr = wechat
        .prepay(&prepay_request(&native, PrepayScene::QrCode, notify))
        .await
        .expect("native prepay");
    let Prepay::QrCode { code_url } = qr else {
        panic!("{qr:?}")
    };
    assert!(code_url.starts_with("weixin://wxpay/bizpayurl?pr="));
    let trade = fake.trade(&native).expect("the fake holds the trade");
    assert_eq!(
        (
            trade.trade_type.as_str(),
            trade.trade_state.as_str(),
            trade.amount
        ),
        ("NATIVE", "NOTPAY", 1999)
    );
    assert!(trade
        .time_expire
        .as_deref()
        .is_some_and(|t| t.ends_with("+08:00")));
    assert_eq!(trade.request["amount"]["currency"], "CNY");
    assert_eq!(trade.notify_url.as_deref(), Some(notify));

    let jsapi = no();
    let in_app = wechat
        .prepay(&prepay_request(
            &jsapi,
            PrepayScene::WechatJsapi {
                openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            },
            notify,
        ))
        .await
        .expect("jsapi prepay");
    let Prepay::InApp { params } = in_app else {
        panic!("{in_app:?}")
    };
    assert_eq!(params["appId"], retail_testkit::wechat_pay::APP_ID);
    assert_eq!(params["signType"], "RSA");
    let package = params["package"].as_str().expect("package");
    assert!(package.starts_with("prepay_id=wx"));
    // paySign is the merchant's signature over appId\ntimeStamp\nnonceStr\npackage\n.
    let message = format!(
        "{}\n{}\n{}\n{package}\n",
        params["appId"].as_str().expect("appId"),
        params["timeStamp"].as_str().expect("timeStamp"),
        params["nonceStr"].as_str().expect("nonceStr"),
    );
    let merchant = rsa::RsaPrivateKey::from_pkcs8_pem(&fake.config().merchant_private_key_pem)
        .expect("the merchant key");
    let signature = base64::engine::general_purpose::STANDARD
        .decode(params["paySign"].as_str().expect("paySign"))
        .expect("base64");
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(merchant.to_public_key())
        .verify(
            message.as_bytes(),
            &rsa::pkcs1v15::Signature::try_from(signature.as_slice()).expect("signature"),
        )
        .expect("paySign verifies");
    assert_eq!(
        fake.trade(&jsapi).and_then(|t| t.openid).as_deref(),
        Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    );

    let h5 = no();
    let redirect = wechat
        .prepay(&prepay_request(
            &h5,
            PrepayScene::MobileWeb {
                client_ip: "203.0.113.7".into(),
                return_url: "https://shop.example.com/orders/1?paid=1".into(),
            },
            notify,
        ))
        .await
        .expect("h5 prepay");
    let Prepay::Redirect { url } = redirect else {
        panic!("{redirect:?}")
    };
    assert!(url.starts_with("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id="));
    assert!(url.ends_with("&redirect_url=https%3A%2F%2Fshop.example.com%2Forders%2F1%3Fpaid%3D1"));
    let trade = fake.trade(&h5).expect("h5 trade");
    assert_eq!(trade.trade_type, "MWEB");
    assert_eq!(
        trade.request["scene_info"]["payer_client_ip"],
        "203.0.113.7"
    );
    assert!(fake.refused().is_empty(), "{:?}", fake.refused());
}

#[tokio::test]
async fn a_payment_code_is_paid_and_the_query_agrees() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    let id = no();
    let outcome = wechat
        .code_pay(&code_request(&id, "134567890123456789", 2550))
        .await
        .expect("answered");
    let CodePayOutcome::Paid(paid) = outcome else {
        panic!("{outcome:?}")
    };
    let trade = fake.trade(&id).expect("trade");
    assert_eq!(paid.transaction_id, trade.transaction_id);
    assert_eq!((paid.amount_fen, paid.currency.as_str()), (2550, "CNY"));
    assert!(paid.paid_at.is_some());
    assert_eq!(trade.request["payer"]["auth_code"], "134567890123456789");
    assert_eq!(trade.request["scene_info"]["store_info"]["out_id"], "SH001");
    assert_eq!(trade.request["scene_info"]["device_id"], "lane-01");
    match wechat.query(&id).await.expect("query") {
        TradeState::Paid(queried) => assert_eq!(queried, paid),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_payer_confirming_then_paid_or_failed() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    fake.on_code(
        "134567890123450001",
        CodeBehaviour::UserPaying {
            queries: 2,
            then_paid: true,
        },
    );
    let id = no();
    assert_eq!(
        wechat
            .code_pay(&code_request(&id, "134567890123450001", 100))
            .await
            .expect("answered"),
        CodePayOutcome::UserPaying
    );
    assert_eq!(wechat.query(&id).await.expect("q1"), TradeState::UserPaying);
    assert_eq!(wechat.query(&id).await.expect("q2"), TradeState::UserPaying);
    assert!(matches!(
        wechat.query(&id).await.expect("q3"),
        TradeState::Paid(p) if p.amount_fen == 100
    ));

    fake.on_code(
        "134567890123450002",
        CodeBehaviour::UserPaying {
            queries: 1,
            then_paid: false,
        },
    );
    let id = no();
    assert_eq!(
        wechat
            .code_pay(&code_request(&id, "134567890123450002", 100))
            .await
            .expect("answered"),
        CodePayOutcome::UserPaying
    );
    assert_eq!(wechat.query(&id).await.expect("q1"), TradeState::UserPaying);
    assert!(matches!(
        wechat.query(&id).await.expect("q2"),
        TradeState::Failed(_)
    ));
}

#[tokio::test]
async fn a_refused_payment_code_fails_for_good() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    fake.on_code(
        "134567890123450003",
        CodeBehaviour::Fail {
            status: 403,
            code: "NOT_ENOUGH".into(),
            message: "用户账户余额不足".into(),
        },
    );
    let outcome = wechat
        .code_pay(&code_request(&no(), "134567890123450003", 100))
        .await
        .expect("answered");
    assert_eq!(
        outcome,
        CodePayOutcome::Failed {
            code: "NOT_ENOUGH".into(),
            message: "用户账户余额不足".into()
        }
    );
}

#[tokio::test]
async fn a_payment_code_that_times_out_is_queried_then_reversed() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    fake.on_code("134567890123450004", CodeBehaviour::Hang);
    let id = no();
    let charged = wechat
        .code_pay(&code_request(&id, "134567890123450004", 100))
        .await;
    assert!(
        is_unavailable(&charged),
        "a timeout is no answer: {charged:?}"
    );
    assert_eq!(
        wechat.query(&id).await.expect("query"),
        TradeState::UserPaying
    );
    wechat.reverse(&id).await.expect("reversed");
    assert_eq!(fake.trade(&id).expect("trade").trade_state, "REVOKED");
    assert_eq!(wechat.query(&id).await.expect("query"), TradeState::Closed);

    // A 500 leaves the outcome unknown too; a garbled answer is unusable.
    fake.on_code("134567890123450005", CodeBehaviour::ServerError);
    let r = wechat
        .code_pay(&code_request(&no(), "134567890123450005", 100))
        .await;
    assert!(is_unavailable(&r), "{r:?}");
    fake.on_code("134567890123450006", CodeBehaviour::Garbled);
    let r = wechat
        .code_pay(&code_request(&no(), "134567890123450006", 100))
        .await;
    assert!(is_malformed(&r), "{r:?}");
}

#[tokio::test]
async fn query_and_close() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    let id = no();
    wechat
        .prepay(&prepay_request(
            &id,
            PrepayScene::QrCode,
            "https://x.example/n",
        ))
        .await
        .expect("prepay");
    assert_eq!(wechat.query(&id).await.expect("query"), TradeState::NotPaid);
    wechat.close(&id).await.expect("closed");
    assert_eq!(wechat.query(&id).await.expect("query"), TradeState::Closed);
    assert_eq!(rejected_code(wechat.query(&no()).await), "ORDER_NOT_EXIST");
    let paid = no();
    wechat
        .code_pay(&code_request(&paid, "134567890123450007", 100))
        .await
        .expect("paid");
    assert_eq!(rejected_code(wechat.close(&paid).await), "ORDERPAID");
}

#[tokio::test]
async fn notifications_are_verified_decrypted_and_replays_verify_the_same() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    let receiver = receiver(wechat.clone()).await;
    let id = no();
    wechat
        .prepay(&prepay_request(&id, PrepayScene::QrCode, &receiver.url))
        .await
        .expect("prepay");
    let sent = fake.pay(&id).await.expect("paid and notified");
    assert_eq!(sent.event_type, "TRANSACTION.SUCCESS");
    assert_eq!(sent.answer, Some(204), "the receiver accepted it");
    let got = receiver.got();
    let Some(Ok(Notification::Paid { notify_id, trade })) = got.first().cloned() else {
        panic!("{got:?}")
    };
    assert_eq!(notify_id, sent.id);
    assert_eq!(trade.out_trade_no, id);
    assert_eq!(trade.amount_fen, 1999);
    assert_eq!(
        trade.transaction_id,
        fake.trade(&id).expect("trade").transaction_id
    );

    // A replay verifies again with the same notify id: deduplication is the server's.
    let replayed = fake.replay(&sent.id).await.expect("replayed");
    assert_eq!(replayed.answer, Some(204));
    assert!(matches!(
        receiver.got().last(),
        Some(Ok(Notification::Paid { notify_id, .. })) if *notify_id == sent.id
    ));
}

#[tokio::test]
async fn forged_stale_and_tampered_notifications_are_refused() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    let receiver = receiver(wechat.clone()).await;
    let id = no();
    wechat
        .prepay(&prepay_request(&id, PrepayScene::QrCode, &receiver.url))
        .await
        .expect("prepay");
    fake.pay(&id).await.expect("paid");
    for tamper in [
        Tamper::ForgedSignature,
        Tamper::WrongSerial,
        Tamper::Stale,
        Tamper::TamperedCiphertext,
        Tamper::TamperedBody,
    ] {
        let n = fake
            .notification_of_payment(&id, tamper)
            .expect("a notification");
        let verified = wechat.verify_notification(&n.header_map(), &n.body);
        assert!(
            matches!(verified, Err(ProviderError::BadNotification { .. })),
            "{tamper:?}: {verified:?}"
        );
        let delivered = fake.deliver(n).await;
        assert_eq!(delivered.answer, Some(401), "{tamper:?}");
    }
    let valid = fake
        .notification_of_payment(&id, Tamper::None)
        .expect("a notification");
    assert!(wechat
        .verify_notification(&valid.header_map(), &valid.body)
        .is_ok());
    // Without its signature headers, nothing verifies.
    assert!(matches!(
        wechat.verify_notification(&HeaderMap::new(), &valid.body),
        Err(ProviderError::BadNotification { .. })
    ));
    let refused = receiver.got().iter().filter(|r| r.is_err()).count();
    assert_eq!(refused, 5);
}

#[tokio::test]
async fn refunds_their_query_and_their_notification() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    let receiver = receiver(wechat.clone()).await;
    let id = no();
    let CodePayOutcome::Paid(paid) = wechat
        .code_pay(&code_request(&id, "134567890123450008", 3000))
        .await
        .expect("paid")
    else {
        panic!("not paid")
    };
    let refund_id = no();
    let request = RefundRequest {
        out_refund_no: refund_id.clone(),
        out_trade_no: id.clone(),
        transaction_id: Some(paid.transaction_id.clone()),
        amount_fen: 1000,
        total_fen: 3000,
        reason: "退货".into(),
        notify_url: receiver.url.clone(),
    };
    let outcome = wechat.refund(&request).await.expect("refund accepted");
    assert_eq!(outcome.state, RefundState::Processing);
    assert_eq!(outcome.amount_fen, 1000);
    assert_eq!(outcome.out_refund_no, refund_id);
    // The same refund again is the same refund (idempotent by out_refund_no).
    let again = wechat.refund(&request).await.expect("the same refund");
    assert_eq!(again.refund_id, outcome.refund_id);
    assert_eq!(
        wechat.query_refund(&refund_id).await.expect("query").state,
        RefundState::Processing
    );
    assert_eq!(
        wechat.query(&id).await.expect("query"),
        TradeState::Refunded
    );

    let sent = fake
        .settle_refund(&refund_id, "SUCCESS")
        .await
        .expect("settled");
    assert_eq!(sent.event_type, "REFUND.SUCCESS");
    assert_eq!(sent.answer, Some(204));
    let got = receiver.got();
    let Some(Ok(Notification::Refund {
        notify_id,
        out_trade_no,
        refund,
    })) = got.last().cloned()
    else {
        panic!("{got:?}")
    };
    assert_eq!(notify_id, sent.id);
    assert_eq!(out_trade_no, id);
    assert_eq!(refund.state, RefundState::Success);
    assert_eq!(refund.out_refund_no, refund_id);
    assert_eq!(refund.amount_fen, 1000);
    assert_eq!(
        wechat.query_refund(&refund_id).await.expect("query").state,
        RefundState::Success
    );
    let tampered = fake
        .notification_of_refund(&refund_id, Tamper::TamperedCiphertext)
        .expect("built");
    assert!(wechat
        .verify_notification(&tampered.header_map(), &tampered.body)
        .is_err());

    // More than is left: refused.
    let too_much = RefundRequest {
        out_refund_no: no(),
        amount_fen: 2001,
        ..request
    };
    assert_eq!(rejected_code(wechat.refund(&too_much).await), "NOT_ENOUGH");
    assert_eq!(
        rejected_code(wechat.query_refund(&no()).await),
        "RESOURCE_NOT_EXISTS"
    );
}

#[tokio::test]
async fn the_trade_bill_is_downloaded_checked_and_parsed() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    let receiver = receiver(wechat.clone()).await;
    let (a, b, c) = (no(), no(), no());
    wechat
        .code_pay(&code_request(&a, "134567890123450009", 1234))
        .await
        .expect("a");
    wechat
        .code_pay(&code_request(&b, "134567890123450010", 500))
        .await
        .expect("b");
    wechat
        .prepay(&prepay_request(&c, PrepayScene::QrCode, &receiver.url))
        .await
        .expect("c");
    fake.pay(&c).await.expect("c paid");
    let refund_id = no();
    wechat
        .refund(&RefundRequest {
            out_refund_no: refund_id.clone(),
            out_trade_no: b.clone(),
            transaction_id: None,
            amount_fen: 200,
            total_fen: 500,
            reason: String::new(),
            notify_url: receiver.url.clone(),
        })
        .await
        .expect("refund");
    fake.settle_refund(&refund_id, "SUCCESS")
        .await
        .expect("settled");

    let today = Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00"))
        .date_naive();
    let lines = wechat.trade_bill(today).await.expect("the bill");
    assert_eq!(lines.len(), 4, "{lines:?}");
    let payment = |no: &str| {
        lines
            .iter()
            .find(|l| l.kind == BillLineKind::Payment && l.out_trade_no == no)
            .map(|l| l.amount_fen)
    };
    assert_eq!(payment(&a), Some(1234));
    assert_eq!(payment(&b), Some(500));
    assert_eq!(payment(&c), Some(1999));
    let refund = lines
        .iter()
        .find(|l| l.kind == BillLineKind::Refund)
        .expect("the refund line");
    assert_eq!(refund.out_refund_no.as_deref(), Some(refund_id.as_str()));
    assert_eq!(
        (refund.out_trade_no.as_str(), refund.amount_fen),
        (b.as_str(), 200)
    );

    fake.corrupt_next_bill();
    let corrupt = wechat.trade_bill(today).await;
    assert!(is_malformed(&corrupt), "{corrupt:?}");
    let empty_day = today - chrono::Duration::days(3);
    assert_eq!(
        rejected_code(wechat.trade_bill(empty_day).await),
        "NO_STATEMENT_EXIST"
    );
}

#[tokio::test]
async fn a_provider_failing_slow_garbled_or_forged_is_never_an_answer() {
    let fake = FakeWechatPay::start();
    let wechat = client(&fake);
    let id = no();
    let prepay = || prepay_request(&id, PrepayScene::QrCode, "https://x.example/n");

    fake.set_mode(Mode::ServerError);
    assert!(is_unavailable(&wechat.prepay(&prepay()).await));
    assert!(is_unavailable(&wechat.query(&id).await));
    fake.set_mode(Mode::Garbled);
    assert!(is_malformed(&wechat.prepay(&prepay()).await));
    fake.set_mode(Mode::BadSignature);
    assert!(is_malformed(&wechat.prepay(&prepay()).await));
    fake.set_mode(Mode::Unsigned);
    assert!(is_malformed(&wechat.prepay(&prepay()).await));
    fake.set_mode(Mode::Slow(Duration::from_secs(4)));
    let slow = wechat.query(&id).await;
    assert!(is_unavailable(&slow), "{slow:?}");
    fake.set_mode(Mode::Normal);
    assert!(wechat.prepay(&prepay()).await.is_ok());

    // Nobody listening.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("addr")
    };
    let gone = WechatPay::new(WechatPayConfig {
        base_url: format!("http://{closed}"),
        ..fake.config()
    })
    .expect("config");
    assert!(is_unavailable(&gone.query(&id).await));
}

#[tokio::test]
async fn requests_not_signed_by_the_merchant_are_refused() {
    let fake = FakeWechatPay::start();
    let other_key = {
        use rsa::pkcs8::EncodePrivateKey;
        rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .expect("key")
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem")
            .to_string()
    };
    let impostor = WechatPay::new(WechatPayConfig {
        merchant_private_key_pem: other_key,
        ..fake.config()
    })
    .expect("config");
    assert_eq!(rejected_code(impostor.query(&no()).await), "SIGN_ERROR");
    assert_eq!(fake.refused().len(), 1, "{:?}", fake.refused());
    let wrong_serial = WechatPay::new(WechatPayConfig {
        merchant_serial_no: "ABCDEF".into(),
        ..fake.config()
    })
    .expect("config");
    assert_eq!(rejected_code(wrong_serial.query(&no()).await), "SIGN_ERROR");
    assert_eq!(
        rejected_code(client(&fake).query(&no()).await),
        "ORDER_NOT_EXIST"
    );
}

#[tokio::test]
async fn platform_certificate_mode() {
    let fake = FakeWechatPay::start();
    let by_certificate = WechatPay::new(fake.config_with_certificate()).expect("certificate mode");
    let receiver = receiver(by_certificate.clone()).await;
    let id = no();
    by_certificate
        .prepay(&prepay_request(&id, PrepayScene::QrCode, &receiver.url))
        .await
        .expect("answers signed as the certificate verify");
    assert_eq!(fake.pay(&id).await.expect("paid").answer, Some(204));
    // A client that knows only the public key id does not know the certificate's serial.
    let by_key_only = client(&fake);
    let r = by_key_only.query(&id).await;
    assert!(is_malformed(&r), "{r:?}");
    let n = fake
        .notification_of_payment(&id, Tamper::None)
        .expect("built");
    assert!(matches!(
        by_key_only.verify_notification(&n.header_map(), &n.body),
        Err(ProviderError::BadNotification { .. })
    ));
}

#[tokio::test]
async fn the_configuration_check_names_the_missing_setting() {
    let fake = FakeWechatPay::start();
    assert!(fake.config().check().is_ok());
    assert!(fake.config_with_certificate().check().is_ok());
    let reason = |c: WechatPayConfig| match c.check() {
        Err(ProviderError::Config { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    assert!(reason(WechatPayConfig {
        wechatpay_public_key_id: String::new(),
        ..fake.config()
    })
    .contains("wechatpay_public_key_id"));
    assert!(reason(WechatPayConfig {
        api_v3_key: "short".into(),
        ..fake.config()
    })
    .contains("api_v3_key"));
    assert!(reason(WechatPayConfig {
        wechatpay_public_key_pem: String::new(),
        wechatpay_public_key_id: String::new(),
        ..fake.config()
    })
    .contains("WeChat Pay's key is missing"));
    assert!(reason(WechatPayConfig {
        platform_certificates_pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
            .into(),
        ..fake.config()
    })
    .contains("platform_certificates"));
}

fn oauth_client(fake: &FakeWechatPay, secret: &str) -> retail_payments::wechat::WechatOauth {
    retail_payments::wechat::WechatOauth::new(retail_payments::wechat::WechatOauthConfig {
        app_id: retail_testkit::wechat_pay::APP_ID.into(),
        app_secret: secret.into(),
        authorize_base_url: fake.base_url.clone(),
        api_base_url: fake.base_url.clone(),
        timeout: Duration::from_secs(2),
    })
    .expect("a complete configuration")
}

/// Web authorisation (snsapi_base): the authorisation page sends the browser back with a code
/// and the state; the code gives the user's openid once; a used, unknown or mis-secreted
/// exchange is WeChat's refusal; a WeChat that does not answer in time is `Unavailable`.
#[tokio::test]
async fn web_authorisation_gives_the_openid_once() {
    let fake = FakeWechatPay::start();
    let oauth = oauth_client(&fake, retail_testkit::wechat_pay::APP_SECRET);
    let authorize = oauth.authorize_url("https://shop.example.cn/wechat/oauth", "St4te");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = browser.get(&authorize).send().await.expect("answer");
    assert_eq!(answer.status(), StatusCode::FOUND);
    let back = reqwest::Url::parse(answer.headers()["location"].to_str().expect("text"))
        .expect("an address");
    assert_eq!(back.path(), "/wechat/oauth");
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "St4te");
    let code = &query["code"];

    assert_eq!(
        oauth.openid(code).await.expect("an openid"),
        fake.oauth_openid()
    );
    let refusal = |r: Result<String, ProviderError>| match r {
        Err(ProviderError::Rejected { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(refusal(oauth.openid(code).await), "40163");
    assert_eq!(refusal(oauth.openid("0a1bNotIssued").await), "40029");
    let wrong = oauth_client(&fake, "not-the-secret");
    assert_eq!(
        refusal(wrong.openid(&fake.issue_oauth_code()).await),
        "40125"
    );
    fake.set_mode(Mode::Slow(Duration::from_secs(3)));
    assert!(matches!(
        oauth.openid(&fake.issue_oauth_code()).await,
        Err(ProviderError::Unavailable { .. })
    ));
    fake.set_mode(Mode::ServerError);
    assert!(matches!(
        oauth.openid(&fake.issue_oauth_code()).await,
        Err(ProviderError::Unavailable { .. })
    ));
    fake.set_mode(Mode::Garbled);
    assert!(matches!(
        oauth.openid(&fake.issue_oauth_code()).await,
        Err(ProviderError::Malformed { .. })
    ));
}
