//! The lane core against a real server: first sync, scanning, quantities, voids, park/resume,
//! members verified offline, cash and split payments, journal before print, receipt bytes,
//! batched idempotent push, offline selling and the push once the server is back.

use chrono::{Duration, Utc};
use pos_terminal::lane::{LaneError, PaymentOutcome, ScanOutcome};
use pos_terminal::sync;
use retail_devices::receipt::decode_text;
use retail_domain::barcode::ean13_from_body;
use retail_domain::codes::{CodeSigner, MemberCode, SignedCode};
use retail_domain::money::Money;
use retail_domain::wire::sales::{PaymentMethod, SaleOutcome};
use serde_json::json;

use crate::support::{
    member_code, member_id, packaged_skus, synced_lane, LaneServer, TestApp, MANAGER, PIN,
};

/// The data of the first native QR code (`GS ( k` function 180) in ESC/POS bytes.
pub fn qr_payload(bytes: &[u8]) -> Option<String> {
    let at = bytes
        .windows(8)
        .position(|w| w[..3] == [0x1D, 0x28, 0x6B] && w[5..8] == [0x31, 0x50, 0x30])?;
    let len = usize::from(bytes[at + 3]) + usize::from(bytes[at + 4]) * 256 - 3;
    let data = bytes.get(at + 8..at + 8 + len)?;
    String::from_utf8(data.to_vec()).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sells_prices_and_pushes_exactly_once() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    assert!(lane.db().catalog_synced().await.expect("synced"));
    assert!(lane.db().sku_count().await.expect("count") > 10);
    let skus = packaged_skus(lane.db(), 3).await;
    let (a, b) = (&skus[0], &skus[1]);

    // Scan A twice (one line, qty 2) and B once.
    assert_eq!(
        lane.scan(&a.barcodes[0]).await.expect("scan a"),
        ScanOutcome::LineAdded(1)
    );
    assert_eq!(
        lane.scan(&format!("  {}  ", a.barcodes[0]))
            .await
            .expect("scan a"),
        ScanOutcome::LineIncremented(1)
    );
    assert_eq!(
        lane.scan(&b.barcodes[0]).await.expect("scan b"),
        ScanOutcome::LineAdded(2)
    );
    let expected = a
        .effective_price()
        .checked_mul_qty(2)
        .and_then(|x| x.checked_add(b.effective_price()))
        .expect("sum");
    assert_eq!(lane.priced().expect("priced").total, expected);

    // Bad input changes nothing.
    let before = lane.basket().clone();
    let unknown = ean13_from_body("690999999999").expect("ean");
    let err = lane.scan(&unknown).await.unwrap_err();
    assert!(matches!(err, LaneError::NotInCatalog(_)), "{err}");
    assert!(err.to_string().contains("not in the catalog"), "{err}");
    let mut bad_check = a.barcodes[0].clone();
    let last = bad_check.pop().expect("digit");
    bad_check.push(if last == '0' { '1' } else { '0' });
    let err = lane.scan(&bad_check).await.unwrap_err();
    assert!(matches!(err, LaneError::UnknownCode { .. }), "{err}");
    assert!(err.to_string().contains("check digit"), "{err}");
    for qty in [0, -3, 10_000_000] {
        let err = lane.set_qty(1, qty).unwrap_err();
        assert!(matches!(err, LaneError::BadQuantity(_)), "{err}");
    }
    assert!(matches!(lane.set_qty(9, 2), Err(LaneError::NoSuchLine(9))));
    assert!(matches!(
        lane.void_sale(MANAGER, "000001").await,
        Err(LaneError::WrongPin(_))
    ));
    let err = lane.scan("EX1.garbage.x").await.unwrap_err();
    assert!(err.to_string().contains("exit"), "{err}");
    assert_eq!(lane.basket(), &before);

    // Quantity and void line.
    lane.set_qty(1, 3).expect("qty");
    lane.void_line(2).expect("void");
    assert_eq!(
        lane.priced().expect("priced").total,
        a.effective_price().checked_mul_qty(3).expect("mul")
    );

    // Park, ring another sale, resume.
    lane.park().await.expect("park");
    assert!(lane.basket().lines.is_empty());
    lane.scan(&b.barcodes[0]).await.expect("scan");
    assert!(lane.resume(0).await.is_err(), "current sale not empty");
    lane.void_sale(MANAGER, PIN).await.expect("void sale");
    lane.resume(0).await.expect("resume");
    assert_eq!(lane.basket().lines[0].qty, 3);

    // Member by scanned code (verified offline with the server's key).
    let member = member_id(&app, "13800138002").await;
    let code = member_code(&app, &member).await;
    let code = code.as_str();
    let mut forged = code.to_owned();
    let c = forged.pop().expect("char");
    forged.push(if c == 'A' { 'B' } else { 'A' });
    let err = lane.scan(&forged).await.unwrap_err();
    assert!(matches!(err, LaneError::Forged(_)), "{err}");
    let seed: [u8; 32] = hex::decode(&app.settings.secrets.code_signing_seed)
        .expect("hex")
        .try_into()
        .expect("32");
    let expired = CodeSigner::from_seed(&seed).sign(&SignedCode::Member(MemberCode {
        member_id: member.parse().expect("uuid"),
        expires_at: Utc::now() - Duration::seconds(5),
    }));
    let err = lane.scan(&expired).await.unwrap_err();
    assert!(matches!(err, LaneError::ExpiredCode), "{err}");
    let other_key = CodeSigner::generate().sign(&SignedCode::Member(MemberCode {
        member_id: member.parse().expect("uuid"),
        expires_at: Utc::now() + Duration::seconds(60),
    }));
    assert!(matches!(
        lane.scan(&other_key).await,
        Err(LaneError::Forged(_))
    ));
    assert!(lane.basket().member.is_none());
    assert!(matches!(
        lane.scan(code).await.expect("member"),
        ScanOutcome::MemberIdentified(_)
    ));

    // Online-only payments while offline: a clear message, nothing taken.
    let err = lane
        .pay(PaymentMethod::StoredBalance, Money::from_fen(100))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("offline:"), "{err}");

    // Split: card part, then cash with change.
    let total = lane.priced().expect("priced").amount_due;
    let card = Money::from_fen(100);
    assert!(matches!(
        lane.pay(PaymentMethod::Card, card).await.expect("card"),
        PaymentOutcome::Partial(_)
    ));
    assert!(lane.set_qty(1, 1).is_err(), "no changes once paying");
    let cash = Money::from_fen(total.fen() - 100 + 5000);
    let PaymentOutcome::Completed(done) = lane.pay(PaymentMethod::Cash, cash).await.expect("cash")
    else {
        panic!("not completed");
    };
    assert_eq!(done.change, Money::from_fen(5000));
    assert!(done.open_drawer);
    assert_eq!(done.sale.total, total);
    assert_eq!(done.sale.sale_no, "SH001-01-000001");
    assert!(lane.basket().lines.is_empty());

    // Journalled before printing, with its receipt.
    let entry = lane
        .db()
        .sale(done.sale.id)
        .await
        .expect("db")
        .expect("journalled");
    assert!(!entry.printed);
    assert_eq!(entry.outcome, None);
    let text = decode_text(&entry.receipt);
    assert!(text.contains(&a.name_zh), "{text}");
    assert!(text.contains("SH001-01-000001"), "{text}");
    assert!(text.contains("找零"), "{text}");
    let code = qr_payload(&entry.receipt).expect("qr");
    assert!(code.starts_with("RC2."), "{code}");
    assert!(matches!(
        lane.scan(&code).await.expect("receipt code"),
        ScanOutcome::Receipt(r) if r.sale_id == done.sale.id
    ));
    // Cut is the last command of the receipt (the drawer kick is added when printing).
    assert!(entry.receipt.ends_with(&[0x1D, 0x56, 0x42, 0x00]), "cut");

    // Push: applied, then a repeat is a duplicate; nothing is sent twice from the journal.
    let report = sync::push_unsent(lane.db(), &api, 500).await.expect("push");
    assert_eq!((report.sent, report.applied), (1, 1));
    let again = api
        .push_sales(vec![done.sale.clone()])
        .await
        .expect("again");
    assert_eq!(again.results[0].outcome, SaleOutcome::Duplicate);
    let report = sync::push_unsent(lane.db(), &api, 500).await.expect("push");
    assert_eq!(report.sent, 0);
    let entry = lane
        .db()
        .sale(done.sale.id)
        .await
        .expect("db")
        .expect("entry");
    assert_eq!(entry.outcome, Some(SaleOutcome::Applied));
    assert!(entry.order_no.is_some());
    let sales = app.server_sales().await;
    assert_eq!(sales.get(&done.sale.id.to_string()), Some(&(1, 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sells_offline_and_pushes_when_the_server_is_back() {
    let mut app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 2").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    let skus = packaged_skus(lane.db(), 5).await;
    let addr = app.addr();
    app.stop().await.expect("the server stops cleanly");

    let mut ids = Vec::new();
    for (i, sku) in skus.iter().enumerate() {
        lane.scan(&sku.barcodes[0]).await.expect("scan offline");
        let due = lane.due();
        let PaymentOutcome::Completed(done) = lane
            .pay(PaymentMethod::Cash, Money::from_fen(due.fen() + i as i64))
            .await
            .expect("pay")
        else {
            panic!("not completed")
        };
        assert!(done.sale.offline);
        ids.push(done.sale.id);
    }
    let err = sync::push_unsent(lane.db(), &api, 2).await.unwrap_err();
    assert!(err.is_offline(), "{err}");
    assert_eq!(lane.db().counts().await.expect("counts").unsent, 5);

    app.start_again(addr).await;
    // Batches of two: three requests.
    let report = sync::push_unsent(lane.db(), &api, 2).await.expect("push");
    assert_eq!((report.sent, report.applied, report.rejected), (5, 5, 0));
    assert_eq!(lane.db().counts().await.expect("counts").unsent, 0);
    let sales = app.server_sales().await;
    for id in ids {
        assert_eq!(sales.get(&id.to_string()), Some(&(1, 1)), "{id}");
    }
    assert_eq!(sales.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_redeemed_online_as_part_of_the_payment() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 3").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    lane.set_online(true);
    let skus = packaged_skus(lane.db(), 1).await;
    for _ in 0..5 {
        lane.scan(&skus[0].barcodes[0]).await.expect("scan");
    }
    let member: uuid::Uuid = member_id(&app, "13800138002").await.parse().expect("uuid");
    let token = app.login("mgr.sh001").await;
    let (_, issued) = app
        .post(
            &format!("/api/v1/members/{member}/member-code"),
            Some(&token),
            json!({}),
        )
        .await;
    lane.scan(issued["code"].as_str().expect("code"))
        .await
        .expect("member");
    let before = api.member(member).await.expect("member");
    assert!(before.points >= 100, "{before:?}");

    // Too many points: refused by the engine, nothing changes.
    let total = lane.priced().expect("priced").total;
    let err = lane
        .redeem_points(before.points + 100, before.points)
        .await
        .unwrap_err();
    assert!(matches!(err, LaneError::Pricing(_)), "{err}");
    assert!(lane.basket().payments.is_empty());
    assert_eq!(lane.due(), total);

    let outcome = lane
        .redeem_points(100, before.points)
        .await
        .expect("redeem");
    let value = lane
        .context()
        .points_rules
        .redemption_value(100)
        .expect("value");
    assert_eq!(
        outcome,
        PaymentOutcome::Partial(total.checked_sub(value).expect("due"))
    );
    let PaymentOutcome::Completed(done) = lane
        .pay(PaymentMethod::Cash, lane.due())
        .await
        .expect("cash")
    else {
        panic!("not completed")
    };
    assert!(done
        .sale
        .payments
        .iter()
        .any(|p| p.method == PaymentMethod::Points && p.points == 100 && p.amount == value));
    let report = sync::push_unsent(lane.db(), &api, 500).await.expect("push");
    assert_eq!((report.applied, report.rejected), (1, 0), "{report:?}");
    let entry = lane
        .db()
        .sale(done.sale.id)
        .await
        .expect("db")
        .expect("entry");
    let after = api.member(member).await.expect("member");
    let earned = sqlx::query_scalar::<_, i64>("SELECT points_earned FROM sales WHERE id = ?")
        .bind(done.sale.id.to_string())
        .fetch_one(lane.db().pool())
        .await
        .expect("earned");
    assert_eq!(entry.outcome, Some(SaleOutcome::Applied));
    assert_eq!(after.points, before.points - 100 + earned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variable_measure_labels_price_and_weight() {
    use retail_domain::barcode::{MeasureKind, VariableMeasureLayout};
    use retail_domain::wire::catalog::{CatalogItem, CatalogPage, SkuRecord};

    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 4").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, lane) = synced_lane(&app, &credential, dir.path()).await;
    // The scale's PLU 12345 is one more code of a weighed demo SKU (as the catalog would carry it).
    let records: Vec<String> = sqlx::query_scalar("SELECT record FROM skus ORDER BY id")
        .fetch_all(lane.db().pool())
        .await
        .expect("skus");
    let mut weighed = records
        .iter()
        .map(|r| serde_json::from_str::<SkuRecord>(r).expect("sku"))
        .find(|s| s.weighed && s.status == retail_domain::wire::catalog::ShelfStatus::OnShelf)
        .expect("a weighed SKU");
    weighed.barcodes.push("12345".into());
    let cursor = lane.db().catalog_cursor().await.expect("cursor");
    lane.db()
        .apply_catalog_page(&CatalogPage {
            items: vec![CatalogItem::Sku(weighed.clone())],
            next_since: cursor,
            has_more: false,
            total: 1,
        })
        .await
        .expect("page");
    let db = lane.db().clone();
    drop(lane);
    let mut settings = crate::support::lane_settings("xprinter-xp-58");
    settings.layouts = vec![
        VariableMeasureLayout {
            prefixes: vec!["28".into()],
            plu_digits: 5,
            value_digits: 5,
            value: MeasureKind::Weight,
            decimals: 3,
            value_check_digit: false,
        },
        VariableMeasureLayout {
            prefixes: vec!["20".into()],
            ..VariableMeasureLayout::cn_default()
        },
    ];
    let mut lane = pos_terminal::lane::Lane::open(db, settings)
        .await
        .expect("lane");
    lane.sign_in(crate::support::CASHIER, crate::support::PIN)
        .expect("sign in");

    // 0.456 kg at the SKU's price per kg.
    let weight_code = ean13_from_body("281234500456").expect("ean");
    assert_eq!(
        lane.scan(&weight_code).await.expect("weight"),
        ScanOutcome::LineAdded(1)
    );
    let line = &lane.basket().lines[0];
    assert_eq!((line.qty, line.qty_text()), (456, "0.456kg".to_owned()));
    let per_kg = weighed.effective_price().fen();
    let expected = (per_kg * 456 + 500) / 1000;
    assert_eq!(lane.priced().expect("priced").total.fen(), expected);
    // A weighed line's quantity comes from its label; scanning the plain EAN is refused.
    assert!(matches!(lane.set_qty(1, 2), Err(LaneError::BadQuantity(_))));
    let err = lane.scan(&weighed.barcodes[0]).await.unwrap_err();
    assert!(err.to_string().contains("by weight"), "{err}");

    // A price label: ¥12.34 for that item.
    let price_code = ean13_from_body("201234501234").expect("ean");
    lane.scan(&price_code).await.expect("price");
    assert_eq!(lane.priced().expect("priced").total.fen(), expected + 1234);
    let due = lane.due();
    let PaymentOutcome::Completed(done) = lane.pay(PaymentMethod::Cash, due).await.expect("pay")
    else {
        panic!("not completed")
    };
    assert_eq!(done.sale.lines[0].qty, 456);
    // The price label's line stands for its weight at the per-kg price (stock leaves by it),
    // and is priced at the label's price.
    let label = &done.sale.lines[1];
    assert_eq!(label.qty, (1234 * 1000 + per_kg / 2) / per_kg);
    assert_eq!(
        (label.label_price, label.unit_price, label.amount),
        (
            Some(Money::from_fen(1234)),
            weighed.effective_price(),
            Money::from_fen(1234)
        )
    );
    assert!(!done.open_drawer || done.change.is_zero());
    // The 58 mm receipt prints the weight.
    let entry = lane
        .db()
        .sale(done.sale.id)
        .await
        .expect("db")
        .expect("entry");
    assert!(decode_text(&entry.receipt).contains("0.456kg"));
    let report = sync::push_unsent(lane.db(), &api, 500).await.expect("push");
    assert_eq!((report.applied, report.rejected), (1, 0), "{report:?}");
    // The server's engine prices the sale as the lane did: no price mismatch to review.
    // (The check runs before the push is answered.)
    let admin = app.login("admin").await;
    let (status, audits) = app
        .get(
            &format!("/api/v1/audit?entity_id={}", done.sale.id),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{audits}");
    assert!(
        !audits.to_string().contains("sale.price_mismatch"),
        "{audits}"
    );
}
