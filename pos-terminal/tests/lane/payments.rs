//! Paying and pricing with the server at the lane: a QR payment through the sandbox provider
//! (split with cash, cancelled, paid by the shopper's phone, pushed with its sale and counted
//! once, a crash while the shopper pays), the member's coupons (listed online, priced by the engine, used once by the server,
//! a conflicting use refused), parked sales that survive a restart, the customer display, and
//! what the lane says when the server is away.

use std::time::Duration;

use pos_terminal::lane::{LaneError, PaymentOutcome, PendingQr};
use pos_terminal::server_api::ServerApi;
use pos_terminal::store::LaneDb;
use pos_terminal::sync;
use retail_devices::receipt::decode_text;
use retail_domain::money::Money;
use retail_domain::wire::sales::{
    CreateLanePayment, LanePaymentStatus, PaymentMethod, SaleOutcome,
};
use serde_json::json;

use crate::binary::{write_config, LaneProcess};
use crate::support::{
    lane_settings, lane_sku, member_code, member_id, packaged_skus, synced_lane, LaneServer,
    TestApp, MANAGER, PIN,
};

/// The shopper confirms on the sandbox provider's page (what scanning the QR opens).
async fn shopper_pays(app: &TestApp, pay_url: &str) {
    let resp = app.client.post(pay_url).send().await.expect("pay");
    let page = resp.text().await.expect("page");
    assert!(page.contains("支付成功"), "{page}");
}

async fn member_uuid(app: &TestApp, phone: &str) -> uuid::Uuid {
    member_id(app, phone).await.parse().expect("uuid")
}

/// A staff-issued coupon template with `rule`, and one coupon of it issued to `member`.
async fn issue_coupon(app: &TestApp, member: uuid::Uuid, rule: serde_json::Value) -> uuid::Uuid {
    let admin = app.login("admin").await;
    let template = uuid::Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/coupon-templates",
            Some(&admin),
            json!({
                "id": template,
                "terms": { "name_zh": "测试券", "name_en": "test coupon", "rule": rule,
                    "stacks_with_promotions": true },
                "issue_on": "staff",
                "valid_from": chrono::Utc::now() - chrono::Duration::hours(1),
                "valid_until": chrono::Utc::now() + chrono::Duration::days(3),
                "per_member_limit": 3
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let coupon = uuid::Uuid::now_v7();
    let (status, body) = app
        .post(
            &format!("/api/v1/coupon-templates/{template}/issue"),
            Some(&admin),
            json!({ "coupon_id": coupon, "member_id": member }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    coupon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_payment_split_with_cash_is_pushed_and_counted_once() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    lane.set_online(true);
    let sku = packaged_skus(lane.db(), 1).await.remove(0);
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    let outcome = lane
        .pay(PaymentMethod::Cash, Money::from_fen(100))
        .await
        .expect("cash");
    let due = lane.due();
    assert_eq!(outcome, PaymentOutcome::Partial(due));

    // More than is due, or nothing: refused before asking the server.
    let too_much = due.checked_add(Money::from_fen(1)).expect("add");
    assert!(matches!(
        lane.check_qr(too_much),
        Err(LaneError::BadPayment(_))
    ));
    assert!(lane.check_qr(Money::ZERO).is_err());
    let id = lane.check_qr(due).expect("qr");
    let request = CreateLanePayment {
        id,
        sale_id: lane.basket().id,
        amount: due,
    };
    let intent = api.create_lane_payment(&request).await.expect("intent");
    assert_eq!(
        api.create_lane_payment(&request).await.expect("retry"),
        intent,
        "a retry answers the same intent"
    );
    assert_eq!(intent.status, LanePaymentStatus::Pending);
    lane.set_pending_qr(PendingQr {
        payment_id: id,
        amount: due,
        pay_url: intent.pay_url.clone(),
    })
    .await
    .expect("pending");

    // The lane crashes while the shopper pays: it comes back with the sale and the QR.
    let before = lane.basket().clone();
    drop(lane);
    let db = LaneDb::open(&dir.path().join("lane.db")).await.expect("db");
    let mut lane = pos_terminal::lane::Lane::open(db, lane_settings("epson-tm-t88v"))
        .await
        .expect("lane");
    lane.sign_in(crate::support::CASHIER, crate::support::PIN)
        .expect("sign in");
    lane.set_online(true);
    assert_eq!(lane.basket(), &before);
    assert_eq!(lane.due(), due, "priced again, the cash still taken");

    // While the shopper pays, the sale is frozen.
    assert!(matches!(
        lane.scan(&sku.barcodes[0]).await,
        Err(LaneError::BadPayment(_))
    ));
    assert!(lane.park().await.is_err());
    assert!(lane.void_sale(MANAGER, PIN).await.is_err());
    assert!(
        lane.check_qr(Money::from_fen(1)).is_err(),
        "one QR at a time"
    );

    shopper_pays(&app, &intent.pay_url).await;
    let paid = api.lane_payment(id).await.expect("status");
    assert_eq!(paid.status, LanePaymentStatus::Succeeded);
    let provider_ref = paid.provider_ref.clone().expect("provider ref");
    assert!(lane
        .qr_paid(uuid::Uuid::now_v7(), provider_ref.clone())
        .await
        .is_err());
    let PaymentOutcome::Completed(done) =
        lane.qr_paid(id, provider_ref.clone()).await.expect("paid")
    else {
        panic!("not completed");
    };
    let qr = done
        .sale
        .payments
        .iter()
        .find(|p| p.method == PaymentMethod::SandboxQr)
        .expect("qr payment");
    assert_eq!(
        (qr.id, qr.amount, qr.provider_ref.as_deref()),
        (id, due, Some(provider_ref.as_str()))
    );
    assert_eq!(done.sale.payments.len(), 2, "cash and QR");
    let text = decode_text(&done.receipt);
    assert!(text.contains("扫码"), "{text}");

    let report = sync::push_unsent(lane.db(), &api, 500).await.expect("push");
    assert_eq!((report.applied, report.rejected), (1, 0));
    let taken = api.lane_payment(id).await.expect("status");
    assert_eq!(taken.order_id, Some(done.sale.id));
    assert_eq!(
        app.server_sales()
            .await
            .get(&done.sale.id.to_string())
            .map(|s| s.0),
        Some(1)
    );
    // Completed: a restart does not bring the sale back.
    drop(lane);
    let db = LaneDb::open(&dir.path().join("lane.db")).await.expect("db");
    let lane = pos_terminal::lane::Lane::open(db, lane_settings("epson-tm-t88v"))
        .await
        .expect("lane");
    assert!(lane.basket().lines.is_empty() && lane.pending_qr().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupons_are_priced_at_the_lane_and_used_once() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    lane.set_online(true);
    let member = member_uuid(&app, "13800138003").await;
    let coupon = issue_coupon(
        &app,
        member,
        json!({ "kind": "no_threshold", "amount": "1.00" }),
    )
    .await;
    let out_of_reach = issue_coupon(
        &app,
        member,
        json!({ "kind": "threshold", "min_spend": "9000.00", "amount": "100.00" }),
    )
    .await;
    let sku = packaged_skus(lane.db(), 1).await.remove(0);
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    let remote = api.member(member).await.expect("member");
    let as_known = pos_terminal::lane::LaneMember {
        id: member,
        tier: remote.tier.code.clone(),
        tier_name: remote.tier.name.clone(),
        points: remote.points,
        balance: Some(remote.balance),
        masked_phone: Some(remote.phone.clone()),
        confirmed_online: true,
        code: None,
    };
    lane.set_member(as_known.clone()).expect("member");
    // Found by phone number only: the member's coupons (balance, points) stay out of reach.
    let listed = api.member_coupons(member).await.expect("coupons");
    let first = listed.first().cloned().expect("a coupon");
    assert!(
        matches!(lane.apply_coupon(first), Err(LaneError::MemberCodeNeeded)),
        "a phone number does not spend coupons"
    );
    // The member shows their member code: now they may.
    let code = app.sign(&retail_domain::codes::SignedCode::Member(
        retail_domain::codes::MemberCode {
            member_id: member,
            expires_at: chrono::Utc::now() + chrono::Duration::seconds(120),
        },
    ));
    lane.scan(&code).await.expect("member code");
    lane.confirm_member(as_known.clone())
        .expect("member details");
    assert!(lane
        .basket()
        .member
        .as_ref()
        .is_some_and(|m| m.code.is_some()));

    let listed = api.member_coupons(member).await.expect("coupons");
    let find = |id| listed.iter().find(|c| c.id == id).cloned().expect("listed");
    let total_before = lane.priced().expect("priced").total;
    // A coupon that takes nothing off this sale is not applied; nothing changes.
    let err = lane.apply_coupon(find(out_of_reach)).unwrap_err();
    assert!(
        matches!(err, LaneError::NotUsableHere(_) | LaneError::Pricing(_)),
        "{err}"
    );
    assert_eq!(lane.priced().expect("priced").total, total_before);
    assert!(lane.basket().coupons.is_empty());
    // The usable one is priced by the engine.
    lane.apply_coupon(find(coupon)).expect("apply");
    assert_eq!(
        lane.priced().expect("priced").total,
        total_before.checked_sub(Money::from_fen(100)).expect("sub")
    );
    assert!(lane.apply_coupon(find(coupon)).is_err(), "applied already");
    let due = lane.due();
    let PaymentOutcome::Completed(done) = lane.pay(PaymentMethod::Cash, due).await.expect("pay")
    else {
        panic!("not completed");
    };
    assert_eq!(done.sale.coupons, vec![coupon]);
    let report = sync::push_unsent(lane.db(), &api, 500).await.expect("push");
    assert_eq!((report.applied, report.rejected), (1, 0));
    assert!(
        !api.member_coupons(member)
            .await
            .expect("coupons")
            .iter()
            .any(|c| c.id == coupon),
        "used: no longer offered"
    );

    // The same coupon (a stale list) on another sale: the lane prices it, the server refuses
    // the sale with a clear reason and the journal keeps it as rejected.
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    lane.scan(&code).await.expect("member code");
    lane.confirm_member(as_known.clone())
        .expect("member details");
    lane.apply_coupon(find(coupon)).expect("apply stale");
    let due = lane.due();
    let PaymentOutcome::Completed(again) = lane.pay(PaymentMethod::Cash, due).await.expect("pay")
    else {
        panic!("not completed");
    };
    let report = sync::push_unsent(lane.db(), &api, 500).await.expect("push");
    assert_eq!(report.rejected, 1);
    let entry = lane
        .db()
        .sale(again.sale.id)
        .await
        .expect("db")
        .expect("entry");
    assert_eq!(entry.outcome, Some(SaleOutcome::Rejected));
    assert!(
        entry
            .error
            .as_deref()
            .unwrap_or("")
            .contains("used already"),
        "{:?}",
        entry.error
    );
    // Removing the member removes the coupons.
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    lane.scan(&code).await.expect("member code");
    lane.confirm_member(as_known).expect("member details");
    lane.apply_coupon(find(coupon)).expect("apply");
    lane.clear_member().expect("no member");
    assert!(lane.basket().coupons.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_sales_survive_a_restart() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    let skus = packaged_skus(lane.db(), 2).await;
    lane.scan(&skus[0].barcodes[0]).await.expect("scan");
    lane.set_qty(1, 4).expect("qty");
    let first = lane.basket().clone();
    lane.park().await.expect("park");
    lane.scan(&skus[1].barcodes[0]).await.expect("scan");
    let second = lane.basket().clone();
    lane.park().await.expect("park");
    drop(lane);

    // A restart (or a crash: every park is committed before it answers).
    let db = LaneDb::open(&dir.path().join("lane.db")).await.expect("db");
    let mut lane = pos_terminal::lane::Lane::open(db, lane_settings("epson-tm-t88v"))
        .await
        .expect("lane");
    lane.sign_in(crate::support::CASHIER, crate::support::PIN)
        .expect("sign in");
    assert_eq!(lane.parked(), &[first.clone(), second.clone()]);
    lane.resume(1).await.expect("resume");
    assert_eq!(lane.basket(), &second);
    assert!(lane.priced().is_some(), "priced again");
    drop(lane);
    let db = LaneDb::open(&dir.path().join("lane.db")).await.expect("db");
    let lane = pos_terminal::lane::Lane::open(db, lane_settings("epson-tm-t88v"))
        .await
        .expect("lane");
    assert_eq!(
        lane.parked(),
        &[first],
        "the resumed sale is no longer parked"
    );
}

/// Decodes the text blocks of a QR on the cashier's screen (`█` both light, `▀` top light,
/// `▄` bottom light, space both dark, two modules of quiet zone) into dark modules.
fn decode_blocks(lines: &[String]) -> Vec<Vec<bool>> {
    let mut light: Vec<Vec<bool>> = Vec::new();
    for line in lines {
        let (top, bottom): (Vec<bool>, Vec<bool>) = line
            .chars()
            .map(|c| match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected {other:?} in the QR"),
            })
            .unzip();
        light.push(top);
        light.push(bottom);
    }
    let size = light[0].len();
    light.truncate(size);
    light[2..size - 2]
        .iter()
        .map(|row| row[2..size - 2].iter().map(|l| !l).collect())
        .collect()
}

fn last_display_screen(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).expect("display bytes");
    let at = bytes
        .windows(2)
        .rposition(|w| w == [0x0C, 0x0B])
        .expect("clear + home");
    String::from_utf8(bytes[at + 2..].to_vec()).expect("ascii")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_a_qr_payment_and_drives_the_customer_display() {
    let mut app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let display = dir.path().join("display.bin");
    let config = write_config(
        &app,
        &credential,
        dir.path(),
        &format!(
            "display_profile = \"vfd-2x20-epson-dmd\"\ndisplay = \"file:{}\"",
            display.display()
        ),
    );
    let mut lane = LaneProcess::start(&config).await;
    lane.seen_or_expect(|l| l == "EVENT online").await;
    let sku = lane_sku(&dir.path().join("data")).await;
    let answer = lane.scan(&sku.barcodes[0]).await;
    assert!(answer.starts_with("OK line 1"), "{answer}");
    lane.command("status").await;
    let screen = last_display_screen(&display);
    // The line just scanned, then the total.
    assert!(screen[20..].starts_with("TOTAL"), "{screen:?}");
    assert_eq!(screen.len(), 40);
    let answer = lane.command("pay cash 0.01").await;
    assert!(answer.starts_with("OK paid 0.01; still due"), "{answer}");
    let due = answer.rsplit(' ').next().expect("due").to_owned();

    // The QR: the URL, then the blocks, then the answer.
    lane.send("pay qr").await;
    let url = lane.expect_line(|l| l.starts_with("QR http")).await[3..].to_owned();
    let mut blocks = Vec::new();
    let answer = loop {
        let line = lane
            .expect_line(|l| l.starts_with("QR|") || l.starts_with("OK ") || l.starts_with("ERR "))
            .await;
        match line.strip_prefix("QR|") {
            Some(row) => blocks.push(row.to_owned()),
            None => break line,
        }
    };
    assert!(
        answer.starts_with(&format!("OK QR payment {due}")),
        "{answer}"
    );
    let expected = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::L)
        .expect("qr");
    let modules: Vec<bool> = expected
        .to_colors()
        .iter()
        .map(|c| *c == qrcode::Color::Dark)
        .collect();
    let decoded: Vec<bool> = decode_blocks(&blocks).into_iter().flatten().collect();
    assert_eq!(decoded, modules, "the QR on screen encodes the pay URL");
    lane.command("status").await;
    let screen = last_display_screen(&display);
    assert_eq!(&screen[..20], "SCAN QR TO PAY      ");
    assert!(
        screen[20..].starts_with("DUE") && screen.ends_with(&due),
        "{screen:?}"
    );
    let answer = lane.scan(&sku.barcodes[0]).await;
    assert!(answer.contains("QR payment is waiting"), "{answer}");

    // Cancelled, then shown again and paid from the phone: the lane hears it and completes.
    let answer = lane.command("qr cancel").await;
    assert!(
        answer.starts_with("OK QR payment") && answer.contains("cancelled"),
        "{answer}"
    );
    lane.send("pay qr").await;
    let url2 = lane.expect_line(|l| l.starts_with("QR http")).await[3..].to_owned();
    assert_ne!(url, url2, "a new payment");
    lane.answer().await;
    // The lane is killed while the shopper pays; restarted, it finds the sale and its QR
    // payment, asks the server and completes the sale.
    lane.kill().await;
    shopper_pays(&app, &url2).await;
    let mut lane = LaneProcess::start(&config).await;
    lane.seen_or_expect(|l| l.starts_with("EVENT a QR payment of"))
        .await;
    let sale = lane.expect_line(|l| l.starts_with("SALE ")).await;
    let sale_id = sale.split_whitespace().nth(1).expect("id").to_owned();
    let done = lane.answer().await;
    assert!(
        done.starts_with("OK sale") && done.contains("complete"),
        "{done}"
    );
    lane.command("status").await;
    let screen = last_display_screen(&display);
    assert!(
        screen.starts_with("THANK YOU") && screen.ends_with("CHANGE          0.00"),
        "{screen:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lane.unsent().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "not pushed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let api = ServerApi::new(&app.url, &credential);
    let payment_id = url2.rsplit('/').next().expect("id").parse().expect("uuid");
    let paid = api.lane_payment(payment_id).await.expect("payment");
    assert_eq!(paid.order_id.map(|o| o.to_string()), Some(sale_id.clone()));
    let cancelled = api
        .lane_payment(url.rsplit('/').next().expect("id").parse().expect("uuid"))
        .await
        .expect("payment");
    assert_eq!(cancelled.status, LanePaymentStatus::Cancelled);
    assert_eq!(app.server_sales().await.get(&sale_id).map(|s| s.0), Some(1));

    // The server goes away: QR payments, coupons and points say they need it; nothing changes.
    let member = member_uuid(&app, "13800138004").await;
    // (Before: the lane finds a member by phone, the number in the body of
    // `POST /members/lookup`, never in a URL.)
    let by_phone = api
        .member_by_phone("138 0013 8004")
        .await
        .expect("member by phone");
    assert_eq!(by_phone.id, member);
    assert_eq!(by_phone.phone, "138****8004");
    let code = member_code(&app, &member.to_string()).await;
    app.stop().await.expect("the server stops cleanly");
    lane.expect_line(|l| l == "EVENT offline").await;
    lane.scan(&sku.barcodes[0]).await;
    let answer = lane.scan(&code).await;
    assert!(answer.contains("verified offline"), "{answer}");
    for (command, expected) in [
        ("pay qr", "ERR offline: a QR payment needs the server"),
        ("coupons", "ERR offline: using a coupon needs the server"),
        ("coupon 1", "ERR offline: using a coupon needs the server"),
        (
            "points 100",
            "ERR offline: paying with points needs the server",
        ),
    ] {
        let answer = lane.command(command).await;
        assert!(answer.starts_with(expected), "{command}: {answer}");
    }
    let status = lane.command("status").await;
    assert!(status.contains("lines 1"), "{status}");
    lane.kill().await;
}
