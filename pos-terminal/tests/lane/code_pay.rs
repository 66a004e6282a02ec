//! The payment code (付款码) at the lane (issue 14): scanned while an amount is due, journalled
//! before the server is asked (last four digits only), charged by the server through the real
//! WeChat Pay client against the kit's fake; the cashier's screen and the customer display
//! while the shopper confirms; paid, refused, reversed after the deadline; a lane restarted
//! mid-payment settles it before the sale can complete; the receipt names the tender and the
//! provider's transaction id, byte for byte as journalled.

use std::time::Duration;

use pos_terminal::lane::{LaneError, PaymentOutcome, ScanOutcome};
use pos_terminal::store::LaneDb;
use pos_terminal::ui::View;
use retail_devices::receipt::decode_text;
use retail_domain::money::Money;
use retail_domain::payment_code::PaymentCodeProvider;
use retail_domain::wire::sales::{CreateCodePayment, LanePaymentStatus, PaymentMethod};
use retail_testkit::payments::wechat_settings;
use retail_testkit::wechat_pay::{CodeBehaviour, FakeWechatPay};

use crate::binary::{write_config, LaneProcess};
use crate::screen::screen;
use crate::support::{lane_sku, packaged_skus, synced_lane, LaneServer, TestApp};

/// The lane core and the screen through a payment code, charged by the demo's sandbox: the
/// code is recognised only with an amount due, the attempt is journalled (last four digits),
/// the sale is frozen and the screen and customer display say what is happening until the
/// server's answer is taken; the receipt prints the tender and the transaction id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_sees_a_payment_code_charged_and_the_receipt_names_it() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    lane.set_online(true);
    let code = "134567890123456789";

    // Nothing rung up: a payment code is not a product and pays nothing yet.
    let err = lane.scan(code).await.unwrap_err();
    assert!(err.to_string().contains("ring the sale up first"), "{err}");

    let skus = packaged_skus(lane.db(), 2).await;
    lane.scan(&skus[0].barcodes[0]).await.expect("scan");
    lane.pay(PaymentMethod::Cash, Money::from_fen(100))
        .await
        .expect("part in cash");
    let due = lane.due();
    let ScanOutcome::PaymentCode {
        provider,
        code: scanned,
    } = lane.scan(&format!(" {code}\r\n")).await.expect("code")
    else {
        panic!("not a payment code");
    };
    assert_eq!(
        (provider, scanned.as_str()),
        (PaymentCodeProvider::WechatPay, code)
    );
    let pending = lane
        .begin_code_payment(provider, &scanned)
        .await
        .expect("journalled");
    assert_eq!(pending.amount, due);
    let journal = lane.db().code_payments().await.expect("journal");
    assert_eq!(journal.len(), 1);
    assert_eq!(
        (
            journal[0].id,
            journal[0].code_last4.as_str(),
            journal[0].status.as_str()
        ),
        (pending.payment_id, "6789", "asking")
    );
    let text = screen(&View::from_lane(&lane));
    assert!(text.contains("付款码支付 Payment code"), "{text}");
    assert!(text.contains("****6789"), "{text}");
    assert!(text.contains(&format!("¥{due}")), "{text}");
    assert!(!text.contains(code), "the code itself is never shown");

    // While the code is charged the sale is frozen.
    assert!(matches!(
        lane.scan(&skus[1].barcodes[0]).await,
        Err(LaneError::BadPayment(_))
    ));
    assert!(lane.pay(PaymentMethod::Cash, due).await.is_err());
    assert!(lane.park().await.is_err());
    assert!(lane.check_qr(Money::from_fen(1)).is_err());
    assert!(lane.scan(code).await.is_err(), "one code at a time");

    // The shopper is asked for their PIN: the screen and the customer display say so.
    lane.code_status(pending.payment_id, LanePaymentStatus::UserPaying)
        .await
        .expect("status");
    let text = screen(&View::from_lane(&lane));
    assert!(text.contains("等待顾客输入密码"), "{text}");
    assert!(text.contains("Waiting for the shopper's PIN"), "{text}");
    assert_eq!(
        pos_terminal::display::screen_for(&lane, None)[0],
        "CONFIRM ON PHONE"
    );

    // The server charges it (the demo's sandbox for a WeChat code without WeChat Pay).
    let paid = api
        .create_code_payment(&CreateCodePayment {
            id: pending.payment_id,
            sale_id: lane.basket().id,
            amount: due,
            auth_code: code.into(),
        })
        .await
        .expect("charged");
    assert_eq!(paid.status, LanePaymentStatus::Succeeded);
    let transaction = paid.provider_ref.clone().expect("transaction id");
    let PaymentOutcome::Completed(done) = lane
        .code_paid(pending.payment_id, paid.method, transaction.clone())
        .await
        .expect("taken")
    else {
        panic!("not completed");
    };
    let tender = done
        .sale
        .payments
        .iter()
        .find(|p| p.id == pending.payment_id)
        .expect("the tender");
    assert_eq!(
        (tender.method, tender.amount, tender.provider_ref.as_deref()),
        (PaymentMethod::SandboxQr, due, Some(transaction.as_str()))
    );
    let receipt = decode_text(&done.receipt);
    let at = receipt
        .lines()
        .position(|l| l.starts_with("交易号"))
        .expect("a transaction id line");
    assert!(
        receipt
            .lines()
            .skip(at)
            .take(2)
            .any(|l| l.contains(&transaction)),
        "{receipt}"
    );
    assert!(receipt.contains("扫码"), "{receipt}");
    let journal = lane.db().code_payments().await.expect("journal");
    assert_eq!(
        (
            journal[0].status.as_str(),
            journal[0].transaction_id.as_deref()
        ),
        ("succeeded", Some(transaction.as_str()))
    );
    let report = pos_terminal::sync::push_unsent(lane.db(), &api, 500)
        .await
        .expect("push");
    assert_eq!((report.applied, report.rejected), (1, 0));
}

/// A server taking WeChat Pay through the kit's fake, and a lane process configured for it
/// (`extra` lines added to its configuration), online.
struct WechatLane {
    wechat: FakeWechatPay,
    app: TestApp,
    lane: LaneProcess,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    _keys: tempfile::TempDir,
}

async fn wechat_lane(extra: &str) -> WechatLane {
    let wechat = FakeWechatPay::start();
    let keys = tempfile::tempdir().expect("keys");
    let app =
        TestApp::sqlite_with(|s| s.payments.wechat = wechat_settings(&wechat, keys.path())).await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(&app, &credential, dir.path(), extra);
    let mut lane = LaneProcess::start(&config).await;
    lane.seen_or_expect(|l| l == "EVENT online").await;
    WechatLane {
        wechat,
        app,
        lane,
        dir,
        config,
        _keys: keys,
    }
}

/// Waits until the lane has pushed everything.
async fn pushed(lane: &mut LaneProcess) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lane.unsent().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "not pushed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The real binary against WeChat Pay (the kit's fake): a code paid at once, one the shopper
/// confirms after a while, one refused, one never confirmed (reversed at the deadline); the
/// printed receipt is the journalled one byte for byte and names 微信支付 and the transaction
/// id; the lane's database never holds a whole payment code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_wechat_payment_codes() {
    let WechatLane {
        wechat,
        app,
        mut lane,
        dir,
        _keys,
        ..
    } = wechat_lane("code_payment_timeout_secs = 5").await;
    let sku = lane_sku(&dir.path().join("data")).await;
    let (paid, confirmed, refused, abandoned) = (
        "134567890123450001",
        "134567890123450002",
        "134567890123450003",
        "134567890123450004",
    );
    wechat.on_code(
        confirmed,
        CodeBehaviour::UserPaying {
            queries: 1,
            then_paid: true,
        },
    );
    wechat.on_code(
        refused,
        CodeBehaviour::Fail {
            status: 403,
            code: "NOTENOUGH".into(),
            message: "用户余额不足".into(),
        },
    );
    wechat.on_code(
        abandoned,
        CodeBehaviour::UserPaying {
            queries: 1_000,
            then_paid: false,
        },
    );

    // 1. Paid at once: the sale completes with the WeChat Pay tender.
    lane.scan(&sku.barcodes[0]).await;
    lane.scan_bytes(format!("{paid}\r").as_bytes());
    let sale = lane.expect_line(|l| l.starts_with("SALE ")).await;
    let sale_id: uuid::Uuid = sale
        .split_whitespace()
        .nth(1)
        .expect("id")
        .parse()
        .expect("uuid");
    let answer = lane.answer().await;
    assert!(
        answer.starts_with("OK 微信支付 WeChat Pay") && answer.contains("complete"),
        "{answer}"
    );
    // 2. The shopper confirms on their phone: the lane waits, polls, and completes.
    lane.scan(&sku.barcodes[0]).await;
    let answer = lane.scan(confirmed).await;
    assert!(
        answer.contains("等待顾客输入密码 Waiting for the shopper's PIN"),
        "{answer}"
    );
    let answer = lane.command("pay cash 100.00").await;
    assert!(answer.starts_with("ERR payment"), "frozen: {answer}");
    lane.expect_line(|l| l.starts_with("SALE ")).await;
    let answer = lane.answer().await;
    assert!(answer.contains("paid (交易号 4200"), "{answer}");
    // 3. Refused: the provider's reason, no tender; cash then completes the sale.
    lane.scan(&sku.barcodes[0]).await;
    let answer = lane.scan(refused).await;
    assert!(
        answer.starts_with("ERR payment: 支付失败") && answer.contains("用户余额不足"),
        "{answer}"
    );
    lane.send("pay cash 5000.00").await;
    lane.expect_line(|l| l.starts_with("SALE ")).await;
    lane.answer().await;
    // 4. Never confirmed: reversed at the deadline, the sale still open.
    lane.scan(&sku.barcodes[0]).await;
    let answer = lane.scan(abandoned).await;
    assert!(answer.contains("Waiting for the shopper's PIN"), "{answer}");
    let answer = lane.expect_line(|l| l.contains("reversed")).await;
    assert!(answer.starts_with("OK 已撤销"), "{answer}");
    let status = lane.command("status").await;
    assert!(status.contains("lines 1"), "{status}");
    lane.send("pay cash 5000.00").await;
    lane.expect_line(|l| l.starts_with("SALE ")).await;
    lane.answer().await;
    pushed(&mut lane).await;
    lane.kill().await;

    // The lane's journal of attempts: last four digits only, each settled.
    let db = LaneDb::open(&dir.path().join("data").join("lane.db"))
        .await
        .expect("db");
    let journal = db.code_payments().await.expect("journal");
    let states: Vec<(&str, &str)> = journal
        .iter()
        .map(|a| (a.code_last4.as_str(), a.status.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("0001", "succeeded"),
            ("0002", "succeeded"),
            ("0003", "failed"),
            ("0004", "reversed")
        ]
    );
    let reversed = &journal[3];
    assert_eq!(
        wechat
            .trade(&reversed.id.simple().to_string())
            .map(|t| t.trade_state),
        Some("REVOKED".into())
    );
    let first = db.sale(sale_id).await.expect("db").expect("sale");
    db.pool().close().await;
    for file in ["lane.db", "lane.db-wal"] {
        let bytes = std::fs::read(dir.path().join("data").join(file)).unwrap_or_default();
        for code in [paid, confirmed, refused, abandoned] {
            assert!(
                !bytes.windows(code.len()).any(|w| w == code.as_bytes()),
                "{file} holds a whole payment code"
            );
        }
    }

    // The receipt: printed exactly as journalled; 微信支付 with the transaction id.
    let transaction = first
        .sale
        .payments
        .iter()
        .find(|p| p.method == PaymentMethod::WechatPay)
        .and_then(|p| p.provider_ref.clone())
        .expect("a WeChat Pay tender");
    let trade = wechat
        .trade(&journal[0].id.simple().to_string())
        .expect("the trade");
    assert_eq!(trade.transaction_id, transaction);
    let printed = std::fs::read(dir.path().join("data").join("receipts.bin")).expect("receipts");
    assert!(
        printed.starts_with(&first.receipt),
        "the printer got the journalled bytes"
    );
    assert!(first
        .receipt
        .windows(transaction.len())
        .any(|w| w == transaction.as_bytes()));
    let text = decode_text(&first.receipt);
    let line = text
        .lines()
        .find(|l| l.starts_with("微信支付订单号"))
        .unwrap_or_else(|| panic!("no transaction line in\n{text}"));
    assert!(line.ends_with(&transaction), "{line}");
    let line = text
        .lines()
        .find(|l| l.starts_with("微信支付 "))
        .unwrap_or_else(|| panic!("no tender line in\n{text}"));
    assert!(
        line.ends_with(&first.sale.payments[0].amount.to_string()),
        "{line}"
    );
    let on_server = app.server_sales().await;
    assert_eq!(on_server.get(&sale_id.to_string()).map(|s| s.0), Some(1));
}

/// The lane is killed while the shopper confirms: started again it comes back with the sale
/// and the open attempt, refuses to complete the sale any other way until the attempt is
/// settled, asks the server, and takes the payment the shopper made meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_restarted_mid_payment_settles_the_code_first() {
    let WechatLane {
        wechat,
        app,
        mut lane,
        dir,
        config,
        _keys,
    } = wechat_lane("").await;
    let sku = lane_sku(&dir.path().join("data")).await;
    let code = "104567890123456789";
    wechat.on_code(
        code,
        CodeBehaviour::UserPaying {
            queries: 2,
            then_paid: true,
        },
    );
    lane.scan(&sku.barcodes[0]).await;
    let answer = lane.scan(code).await;
    assert!(answer.contains("Waiting for the shopper's PIN"), "{answer}");
    lane.kill().await;

    let mut lane = LaneProcess::start(&config).await;
    lane.seen_or_expect(|l| l.starts_with("EVENT a payment code of"))
        .await;
    let answer = lane.command("pay cash 5000.00").await;
    assert!(
        answer.starts_with("ERR payment: a payment code"),
        "the sale waits for the code: {answer}"
    );
    let sale = lane.expect_line(|l| l.starts_with("SALE ")).await;
    let answer = lane.answer().await;
    assert!(
        answer.starts_with("OK 微信支付 WeChat Pay") && answer.contains("complete"),
        "{answer}"
    );
    pushed(&mut lane).await;
    lane.kill().await;
    let sale_id = sale.split_whitespace().nth(1).expect("id").to_owned();
    assert_eq!(app.server_sales().await.get(&sale_id).map(|s| s.0), Some(1));
    let db = LaneDb::open(&dir.path().join("data").join("lane.db"))
        .await
        .expect("db");
    let journal = db.code_payments().await.expect("journal");
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].status, "succeeded");
    db.pool().close().await;
}
