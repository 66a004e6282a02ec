//! The Alipay client against the fake Alipay gateway (`retail_testkit::alipay`).

use std::time::Duration;

use chrono::Utc;
use retail_payments::alipay::{Alipay, AlipayConfig, CancelAction};
use retail_payments::{
    BillLineKind, CodePayOutcome, CodePayRequest, Notification, Prepay, PrepayRequest, PrepayScene,
    ProviderError, RefundRequest, RefundState, TradeState,
};
use retail_testkit::alipay::{
    alipay_public_key_base64, alipay_public_key_pem, app_private_key_pem, forger_private_key,
    CodeBehaviour, FakeAlipay, GatewayMode, NotifyInbox, Settle, APP_ID, SELLER_ID,
};
use retail_testkit::eventually;

const WAIT: Duration = Duration::from_secs(20);

fn client(fake: &FakeAlipay) -> Alipay {
    client_with(fake, |_| {})
}

fn client_with(fake: &FakeAlipay, adjust: impl FnOnce(&mut AlipayConfig)) -> Alipay {
    let mut config = AlipayConfig::new(APP_ID, app_private_key_pem(), alipay_public_key_pem());
    config.gateway = fake.gateway.clone();
    config.seller_id = Some(SELLER_ID.into());
    config.timeout = Duration::from_secs(3);
    adjust(&mut config);
    Alipay::new(config).expect("a client")
}

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn qr_request(amount_fen: i64, notify_url: &str) -> PrepayRequest {
    PrepayRequest {
        out_trade_no: new_id(),
        description: "零售订单 A/B".into(),
        amount_fen,
        notify_url: notify_url.into(),
        expires_at: Utc::now() + chrono::Duration::minutes(15),
        scene: PrepayScene::QrCode,
    }
}

fn code_request(amount_fen: i64, auth_code: &str) -> CodePayRequest {
    CodePayRequest {
        out_trade_no: new_id(),
        description: "门店销售".into(),
        amount_fen,
        auth_code: auth_code.into(),
        store_id: "S001".into(),
        device_id: "lane-1".into(),
        client_ip: "10.0.0.21".into(),
    }
}

/// Waits for the `n`-th body at the inbox.
async fn nth_body(inbox: &NotifyInbox, n: usize) -> String {
    eventually("a notification at the inbox", WAIT, || {
        let bodies = inbox.bodies();
        async move { bodies.get(n).cloned() }
    })
    .await
    .expect("the notification arrived")
}

#[tokio::test]
async fn precreate_gives_a_qr_code_and_the_payment_is_notified() {
    let fake = FakeAlipay::start();
    let inbox = NotifyInbox::start();
    let alipay = client(&fake);
    let request = qr_request(1234, &inbox.url);
    let prepay = alipay.prepay(&request).await.expect("a QR code");
    let Prepay::QrCode { code_url } = prepay else {
        panic!("not a QR code: {prepay:?}")
    };
    assert!(code_url.starts_with("https://qr.alipay.com/"), "{code_url}");
    let trade = fake
        .trade(&request.out_trade_no)
        .expect("the fake has the trade");
    assert_eq!(
        (trade.status.as_str(), trade.total_fen),
        ("WAIT_BUYER_PAY", 1234)
    );
    assert_eq!(trade.notify_url.as_deref(), Some(inbox.url.as_str()));
    assert_eq!(
        alipay.query(&request.out_trade_no).await.expect("a state"),
        TradeState::NotPaid
    );

    assert!(fake.pay(&request.out_trade_no));
    let body = nth_body(&inbox, 0).await;
    match alipay
        .verify_notification(body.as_bytes())
        .expect("a valid notification")
    {
        Notification::Paid { trade: paid, .. } => {
            assert_eq!(paid.out_trade_no, request.out_trade_no);
            assert_eq!(paid.transaction_id, trade.trade_no);
            assert_eq!(paid.amount_fen, 1234);
            assert!(paid.paid_at.is_some());
        }
        other => panic!("not a payment: {other:?}"),
    }
    match alipay.query(&request.out_trade_no).await.expect("a state") {
        TradeState::Paid(paid) => assert_eq!(
            (paid.amount_fen, paid.transaction_id),
            (1234, trade.trade_no)
        ),
        other => panic!("not paid: {other:?}"),
    }
    assert_eq!(fake.refused(), Vec::<String>::new());
}

#[tokio::test]
async fn the_wap_pay_url_verifies_at_the_gateway() {
    let fake = FakeAlipay::start();
    let alipay = client(&fake);
    let mut request = qr_request(990, "https://shop.example/notify");
    request.scene = PrepayScene::MobileWeb {
        client_ip: "10.0.0.9".into(),
        return_url: "https://shop.example/orders/1".into(),
    };
    let Prepay::Redirect { url } = alipay.prepay(&request).await.expect("a URL") else {
        panic!("not a redirect")
    };
    let page = reqwest::get(&url)
        .await
        .expect("the cashier")
        .text()
        .await
        .expect("a page");
    assert!(page.contains("支付宝收银台"), "{page}");
    assert!(page.contains(&request.out_trade_no));
    assert_eq!(fake.refused(), Vec::<String>::new());
    assert_eq!(
        fake.trade(&request.out_trade_no)
            .expect("a trade")
            .total_fen,
        990
    );

    // The amount changed in the URL: the gateway's check of the signature refuses it.
    let tampered = url.replace("9.90", "0.01");
    assert_ne!(tampered, url);
    let page = reqwest::get(&tampered)
        .await
        .expect("the cashier")
        .text()
        .await
        .expect("a page");
    assert!(page.contains("isv.invalid-signature"), "{page}");
    assert_eq!(fake.refused().len(), 1);
}

#[tokio::test]
async fn a_payment_code_pays_at_once() {
    let fake = FakeAlipay::start();
    let alipay = client(&fake);
    let request = code_request(2500, "287654321012345678");
    match alipay.code_pay(&request).await.expect("an outcome") {
        CodePayOutcome::Paid(paid) => {
            assert_eq!(paid.out_trade_no, request.out_trade_no);
            assert_eq!(paid.amount_fen, 2500);
            assert_eq!(paid.currency, "CNY");
            let trade = fake.trade(&request.out_trade_no).expect("a trade");
            assert_eq!(paid.transaction_id, trade.trade_no);
            assert_eq!(trade.auth_code.as_deref(), Some("287654321012345678"));
        }
        other => panic!("not paid: {other:?}"),
    }
    // A retry of the same charge: Alipay says it is paid already; the client asks for it.
    match alipay.code_pay(&request).await.expect("an outcome") {
        CodePayOutcome::Paid(paid) => assert_eq!(paid.amount_fen, 2500),
        other => panic!("not paid: {other:?}"),
    }
}

#[tokio::test]
async fn a_payment_code_waits_for_the_payer_then_settles() {
    let fake = FakeAlipay::start();
    let alipay = client(&fake);
    fake.on_auth_code(
        "281111111111111111",
        CodeBehaviour::UserPaying {
            queries: 2,
            then: Settle::Paid,
        },
    );
    let request = code_request(800, "281111111111111111");
    assert_eq!(
        alipay.code_pay(&request).await.expect("an outcome"),
        CodePayOutcome::UserPaying
    );
    assert_eq!(
        alipay.query(&request.out_trade_no).await.expect("a state"),
        TradeState::NotPaid
    );
    match alipay.query(&request.out_trade_no).await.expect("a state") {
        TradeState::Paid(paid) => assert_eq!(paid.amount_fen, 800),
        other => panic!("not paid: {other:?}"),
    }

    fake.on_auth_code(
        "282222222222222222",
        CodeBehaviour::UserPaying {
            queries: 1,
            then: Settle::Closed,
        },
    );
    let request = code_request(800, "282222222222222222");
    assert_eq!(
        alipay.code_pay(&request).await.expect("an outcome"),
        CodePayOutcome::UserPaying
    );
    assert_eq!(
        alipay.query(&request.out_trade_no).await.expect("a state"),
        TradeState::Closed
    );
}

#[tokio::test]
async fn a_refused_payment_code_fails() {
    let fake = FakeAlipay::start();
    let alipay = client(&fake);
    fake.on_auth_code(
        "283333333333333333",
        CodeBehaviour::Fail {
            sub_code: "ACQ.PAYMENT_AUTH_CODE_INVALID".into(),
            sub_msg: "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款".into(),
        },
    );
    match alipay
        .code_pay(&code_request(100, "283333333333333333"))
        .await
        .expect("an outcome")
    {
        CodePayOutcome::Failed { code, message } => {
            assert_eq!(code, "ACQ.PAYMENT_AUTH_CODE_INVALID");
            assert!(message.contains("付款码"));
        }
        other => panic!("not failed: {other:?}"),
    }
}

#[tokio::test]
async fn a_payment_code_that_times_out_is_unknown_then_cancelled() {
    let fake = FakeAlipay::start();
    let alipay = client_with(&fake, |c| c.timeout = Duration::from_secs(1));
    fake.on_auth_code("284444444444444444", CodeBehaviour::Hang);
    let request = code_request(4200, "284444444444444444");
    match alipay.code_pay(&request).await {
        Err(ProviderError::Unavailable { reason, .. }) => {
            assert!(reason.contains("timed out"), "{reason}")
        }
        other => panic!("not unknown: {other:?}"),
    }
    // The charge went through at Alipay while the answer was lost: cancelling refunds it.
    assert_eq!(
        alipay
            .cancel(&request.out_trade_no)
            .await
            .expect("cancelled"),
        CancelAction::Refunded
    );
    let trade = fake.trade(&request.out_trade_no).expect("a trade");
    assert_eq!(
        (trade.status.as_str(), trade.refunded_fen),
        ("TRADE_CLOSED", 4200)
    );
    assert_eq!(
        alipay.query(&request.out_trade_no).await.expect("a state"),
        TradeState::Refunded
    );

    // An unpaid one is closed; one Alipay never saw needs nothing.
    fake.on_auth_code(
        "285555555555555555",
        CodeBehaviour::UserPaying {
            queries: 5,
            then: Settle::Paid,
        },
    );
    let waiting = code_request(100, "285555555555555555");
    assert_eq!(
        alipay.code_pay(&waiting).await.expect("an outcome"),
        CodePayOutcome::UserPaying
    );
    assert_eq!(
        alipay
            .cancel(&waiting.out_trade_no)
            .await
            .expect("cancelled"),
        CancelAction::Closed
    );
    assert_eq!(
        alipay.cancel(&new_id()).await.expect("cancelled"),
        CancelAction::NoTrade
    );
}

#[tokio::test]
async fn a_payment_code_answered_500_or_garbage_is_not_decided() {
    let fake = FakeAlipay::start();
    let alipay = client(&fake);
    fake.on_auth_code("286666666666666666", CodeBehaviour::ServerError);
    match alipay
        .code_pay(&code_request(100, "286666666666666666"))
        .await
    {
        Err(ProviderError::Unavailable { reason, .. }) => {
            assert!(
                reason.contains("500") && reason.contains("trace_id"),
                "{reason}"
            )
        }
        other => panic!("not unavailable: {other:?}"),
    }
    fake.on_auth_code("287777777777777777", CodeBehaviour::Garbled);
    assert!(matches!(
        alipay
            .code_pay(&code_request(100, "287777777777777777"))
            .await,
        Err(ProviderError::Malformed { .. })
    ));
}

#[tokio::test]
async fn close_closes_an_unpaid_trade_only() {
    let fake = FakeAlipay::start();
    let alipay = client(&fake);
    let request = qr_request(300, "https://shop.example/notify");
    alipay.prepay(&request).await.expect("a QR code");
    alipay.close(&request.out_trade_no).await.expect("closed");
    assert_eq!(
        fake.trade(&request.out_trade_no).expect("a trade").status,
        "TRADE_CLOSED"
    );
    assert_eq!(
        alipay.query(&request.out_trade_no).await.expect("a state"),
        TradeState::Closed
    );
    // A QR nobody scanned is unknown to Alipay: nothing to close.
    alipay.close(&new_id()).await.expect("nothing to close");
    // A paid trade is not closed.
    let paid = code_request(300, "288888888888888888");
    alipay.code_pay(&paid).await.expect("paid");
    match alipay.close(&paid.out_trade_no).await {
        Err(ProviderError::Rejected { code, .. }) => assert_eq!(code, "ACQ.TRADE_STATUS_ERROR"),
        other => panic!("not refused: {other:?}"),
    }
}

/// A paid QR trade and the notification Alipay posted for it.
async fn paid_qr_trade(
    fake: &FakeAlipay,
    alipay: &Alipay,
    inbox: &NotifyInbox,
    fen: i64,
) -> (PrepayRequest, String) {
    let request = qr_request(fen, &inbox.url);
    alipay.prepay(&request).await.expect("a QR code");
    let before = inbox.bodies().len();
    assert!(fake.pay(&request.out_trade_no));
    let body = nth_body(inbox, before).await;
    (request, body)
}

#[tokio::test]
async fn notifications_verify_only_as_alipay_sent_them() {
    let fake = FakeAlipay::start();
    let inbox = NotifyInbox::start();
    let alipay = client(&fake);
    let (request, body) = paid_qr_trade(&fake, &alipay, &inbox, 5000).await;
    let first = alipay.verify_notification(body.as_bytes()).expect("valid");
    let Notification::Paid { notify_id, trade } = &first else {
        panic!("not a payment: {first:?}")
    };
    assert_eq!(
        (trade.out_trade_no.as_str(), trade.amount_fen),
        (request.out_trade_no.as_str(), 5000)
    );
    assert!(!notify_id.is_empty());
    // Alipay's public key given as bare base64 verifies the same.
    let bare = client_with(&fake, |c| c.alipay_public_key = alipay_public_key_base64());
    assert_eq!(
        bare.verify_notification(body.as_bytes()).expect("valid"),
        first
    );

    // Replayed by Alipay: it verifies the same (de-duplication is the server's).
    let answer = fake.replay(0).await.expect("answered");
    assert_eq!(answer, (200, "success".to_owned()));
    let replayed = nth_body(&inbox, 1).await;
    assert_eq!(replayed, body);
    assert_eq!(
        alipay
            .verify_notification(replayed.as_bytes())
            .expect("valid"),
        first
    );

    // Forged: the same fields signed with another key.
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body).expect("a form");
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let forged = FakeAlipay::forge_notification(&fields);
    assert_bad(&alipay, &forged, "forged");

    // Tampered: the amount raised, the signature kept.
    let tampered = FakeAlipay::tamper(&body, "total_amount", "5000.00");
    assert_bad(&alipay, &tampered, "tampered amount");
    let tampered = FakeAlipay::tamper(&body, "out_trade_no", &new_id());
    assert_bad(&alipay, &tampered, "tampered trade");
    let unsigned = FakeAlipay::tamper(&body, "sign", "");
    assert_bad(&alipay, &unsigned, "unsigned");

    // A trade closed unpaid: nothing owed.
    let closed: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, _)| *k != "gmt_payment")
        .map(|(k, v)| {
            if *k == "trade_status" {
                (*k, "TRADE_CLOSED")
            } else {
                (*k, *v)
            }
        })
        .collect();
    match alipay.verify_notification(fake.sign_notification(&closed).as_bytes()) {
        Ok(Notification::Closed { out_trade_no, .. }) => {
            assert_eq!(out_trade_no, request.out_trade_no)
        }
        other => panic!("not closed: {other:?}"),
    }

    // Signed by Alipay, but for another app or another merchant.
    let other_app: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| {
            if *k == "app_id" {
                (*k, "2021000000009999")
            } else {
                (*k, *v)
            }
        })
        .collect();
    assert_bad(&alipay, &fake.sign_notification(&other_app), "another app");
    let other_seller: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| {
            if *k == "seller_id" {
                (*k, "2088000000009999")
            } else {
                (*k, *v)
            }
        })
        .collect();
    assert_bad(
        &alipay,
        &fake.sign_notification(&other_seller),
        "another seller",
    );
}

fn assert_bad(alipay: &Alipay, body: &str, what: &str) {
    match alipay.verify_notification(body.as_bytes()) {
        Err(ProviderError::BadNotification { .. }) => {}
        other => panic!("{what}: not refused: {other:?}"),
    }
}

#[tokio::test]
async fn refunds_are_made_once_queried_and_notified() {
    let fake = FakeAlipay::start();
    let inbox = NotifyInbox::start();
    let alipay = client(&fake);
    let (request, _) = paid_qr_trade(&fake, &alipay, &inbox, 1000).await;
    let trade_no = fake.trade(&request.out_trade_no).expect("a trade").trade_no;
    let refund = RefundRequest {
        out_refund_no: new_id(),
        out_trade_no: request.out_trade_no.clone(),
        transaction_id: Some(trade_no),
        amount_fen: 300,
        total_fen: 1000,
        reason: "退货".into(),
        notify_url: inbox.url.clone(),
    };
    let outcome = alipay.refund(&refund).await.expect("refunded");
    assert_eq!(
        (outcome.state, outcome.amount_fen),
        (RefundState::Success, 300)
    );
    // The same refund again: no money moves.
    let again = alipay.refund(&refund).await.expect("answered");
    assert_eq!(again.state, RefundState::Processing);
    assert_eq!(fake.refunds().len(), 1);
    assert_eq!(
        fake.trade(&request.out_trade_no)
            .expect("a trade")
            .refunded_fen,
        300
    );

    let queried = alipay
        .refund_query(&request.out_trade_no, &refund.out_refund_no)
        .await
        .expect("a state");
    assert_eq!(
        (queried.state, queried.amount_fen),
        (RefundState::Success, 300)
    );
    let unknown = alipay
        .refund_query(&request.out_trade_no, &new_id())
        .await
        .expect("a state");
    assert_eq!(unknown.state, RefundState::Closed);

    // The refund's notification.
    let body = nth_body(&inbox, 1).await;
    match alipay.verify_notification(body.as_bytes()).expect("valid") {
        Notification::Refund {
            out_trade_no,
            refund: notified,
            ..
        } => {
            assert_eq!(out_trade_no, request.out_trade_no);
            assert_eq!(notified.out_refund_no, refund.out_refund_no);
            assert_eq!(
                (notified.state, notified.amount_fen),
                (RefundState::Success, 300)
            );
        }
        other => panic!("not a refund: {other:?}"),
    }

    // More than is left is refused.
    let too_much = RefundRequest {
        out_refund_no: new_id(),
        amount_fen: 701,
        ..refund.clone()
    };
    match alipay.refund(&too_much).await {
        Err(ProviderError::Rejected { code, .. }) => {
            assert_eq!(code, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
        }
        other => panic!("not refused: {other:?}"),
    }
    // The rest closes the trade: its notification is a refund too.
    let rest = RefundRequest {
        out_refund_no: new_id(),
        amount_fen: 700,
        ..refund.clone()
    };
    assert_eq!(
        alipay.refund(&rest).await.expect("refunded").state,
        RefundState::Success
    );
    let body = nth_body(&inbox, 2).await;
    match alipay.verify_notification(body.as_bytes()).expect("valid") {
        Notification::Refund {
            refund: notified, ..
        } => {
            assert_eq!(notified.out_refund_no, rest.out_refund_no);
            assert_eq!(
                notified.amount_fen, 1000,
                "Alipay reports the trade's refunded total"
            );
        }
        other => panic!("not a refund: {other:?}"),
    }
    assert_eq!(
        alipay.query(&request.out_trade_no).await.expect("a state"),
        TradeState::Refunded
    );
}

#[tokio::test]
async fn the_daily_bill_is_downloaded_and_read() {
    let fake = FakeAlipay::start();
    let inbox = NotifyInbox::start();
    let alipay = client(&fake);
    let paid = code_request(1999, "280000000000000001");
    alipay.code_pay(&paid).await.expect("paid");
    let (qr, _) = paid_qr_trade(&fake, &alipay, &inbox, 550).await;
    let refund = RefundRequest {
        out_refund_no: new_id(),
        out_trade_no: paid.out_trade_no.clone(),
        transaction_id: None,
        amount_fen: 999,
        total_fen: 1999,
        reason: "退货".into(),
        notify_url: inbox.url.clone(),
    };
    alipay.refund(&refund).await.expect("refunded");

    let today = Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+8"))
        .date_naive();
    let mut lines = alipay.bill(today).await.expect("the bill");
    lines.sort_by_key(|l| (l.kind == BillLineKind::Refund, l.amount_fen));
    assert_eq!(fake.bill_downloads(), 1);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        (
            lines[0].kind,
            lines[0].out_trade_no.as_str(),
            lines[0].amount_fen
        ),
        (BillLineKind::Payment, qr.out_trade_no.as_str(), 550)
    );
    assert_eq!(
        (
            lines[1].kind,
            lines[1].out_trade_no.as_str(),
            lines[1].amount_fen
        ),
        (BillLineKind::Payment, paid.out_trade_no.as_str(), 1999)
    );
    assert_eq!(
        lines[1].transaction_id,
        fake.trade(&paid.out_trade_no).expect("a trade").trade_no
    );
    assert_eq!(
        (lines[2].kind, lines[2].amount_fen),
        (BillLineKind::Refund, 999)
    );
    assert_eq!(
        lines[2].out_refund_no.as_deref(),
        Some(refund.out_refund_no.as_str())
    );

    let empty = alipay
        .bill(today - chrono::Duration::days(3))
        .await
        .expect("an empty bill");
    assert!(empty.is_empty());
}

#[tokio::test]
async fn a_failing_gateway_is_unavailable_or_malformed_never_an_answer() {
    let fake = FakeAlipay::start();
    let alipay = client_with(&fake, |c| c.timeout = Duration::from_secs(1));
    let id = new_id();
    fake.set_mode(GatewayMode::ServerError);
    match alipay.query(&id).await {
        Err(ProviderError::Unavailable { reason, .. }) => {
            assert!(reason.contains("trace_id"), "{reason}")
        }
        other => panic!("500: {other:?}"),
    }
    fake.set_mode(GatewayMode::Garbled);
    assert!(matches!(
        alipay.query(&id).await,
        Err(ProviderError::Malformed { .. })
    ));
    fake.set_mode(GatewayMode::Slow(Duration::from_secs(3)));
    assert!(matches!(
        alipay.query(&id).await,
        Err(ProviderError::Unavailable { .. })
    ));
    // Answers that do not verify are no answers.
    fake.set_mode(GatewayMode::WrongKey);
    match alipay.query(&id).await {
        Err(ProviderError::Malformed { reason, .. }) => {
            assert!(reason.contains("signature"), "{reason}")
        }
        other => panic!("wrong key: {other:?}"),
    }
    fake.set_mode(GatewayMode::Tampered);
    assert!(matches!(
        alipay.query(&id).await,
        Err(ProviderError::Malformed { .. })
    ));
    fake.set_mode(GatewayMode::Unsigned);
    match alipay.query(&id).await {
        Err(ProviderError::Malformed { reason, .. }) => {
            assert!(reason.contains("not signed"), "{reason}")
        }
        other => panic!("unsigned: {other:?}"),
    }
    fake.set_mode(GatewayMode::Normal);
    assert_eq!(
        alipay.query(&id).await.expect("a state"),
        TradeState::NotPaid
    );

    // Nobody there.
    let port = retail_testkit::free_port().expect("a port");
    let nowhere = client_with(&fake, |c| {
        c.gateway = format!("http://127.0.0.1:{port}/gateway.do")
    });
    assert!(matches!(
        nowhere.query(&id).await,
        Err(ProviderError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn requests_the_gateway_cannot_verify_are_refused() {
    let fake = FakeAlipay::start();
    let wrong_key = client_with(&fake, |c| c.app_private_key = forger_private_key());
    match wrong_key.query(&new_id()).await {
        Err(ProviderError::Rejected { code, .. }) => assert_eq!(code, "isv.invalid-signature"),
        other => panic!("not refused: {other:?}"),
    }
    let wrong_app = client_with(&fake, |c| c.app_id = "2021000000009999".into());
    match wrong_app.query(&new_id()).await {
        Err(ProviderError::Rejected { code, .. }) => assert_eq!(code, "isv.invalid-app-id"),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(fake.refused().len(), 2, "{:?}", fake.refused());
    assert_eq!(fake.methods(), vec!["alipay.trade.query"; 2]);
}
