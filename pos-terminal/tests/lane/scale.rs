//! Scale labels of the demo chain's weighed items: the lane reads them with the chain's
//! variable-measure layouts, which the server sends with the pricing context and the lane keeps
//! in its database (so offline after a restart too); a lane's own layouts override them.

use pos_terminal::lane::{Lane, PaymentOutcome, ScanOutcome};
use retail_domain::barcode::{ean13_from_body, MeasureKind, VariableMeasureLayout};
use retail_domain::money::Money;
use retail_domain::wire::sales::PaymentMethod;

use crate::support::{lane_settings, synced_lane, LaneServer, TestApp};

/// The demo chain's loose apples (烟台红富士苹果, sold by weight).
const APPLES_PLU: &str = "10001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_plu_labels_read_with_the_servers_layout_offline_too() {
    // This chain's scales print weight labels (28 + PLU + grams) and price labels (20 + PLU +
    // fen); the lanes are not configured with either.
    let weight = VariableMeasureLayout {
        prefixes: vec!["28".into()],
        value: MeasureKind::Weight,
        decimals: 3,
        ..VariableMeasureLayout::cn_default()
    };
    let price = VariableMeasureLayout {
        prefixes: vec!["20".into()],
        ..VariableMeasureLayout::cn_default()
    };
    let chain = vec![weight, price];
    let layouts = chain.clone();
    let mut app = TestApp::sqlite_with(move |s| s.barcodes.variable_measure = layouts).await;
    let (_, credential) = app.register_lane("Lane 5").await;
    let dir = tempfile::tempdir().expect("dir");
    let (_, lane) = synced_lane(&app, &credential, dir.path()).await;
    assert_eq!(lane.context().variable_measure.as_ref(), Some(&chain));
    let db = lane.db().clone();
    drop(lane);
    let mut settings = lane_settings("epson-tm-t88v");
    settings.layouts = Vec::new();
    let mut lane = Lane::open(db, settings.clone()).await.expect("lane");
    lane.sign_in(crate::support::CASHIER, crate::support::PIN)
        .expect("sign in");
    assert_eq!(*lane.layouts(), chain[..]);

    let apples = lane
        .db()
        .sku_by_barcode(APPLES_PLU)
        .await
        .expect("db")
        .expect("the demo's PLU 10001");
    assert!(apples.weighed, "{apples:?}");
    let per_kg = apples.effective_price().fen();

    // A weight label: 0.456 kg of apples.
    let label = ean13_from_body(&format!("28{APPLES_PLU}00456")).expect("ean");
    assert_eq!(
        lane.scan(&label).await.expect("weight label"),
        ScanOutcome::LineAdded(1)
    );
    let line = &lane.basket().lines[0];
    assert_eq!(
        (line.sku.id, line.qty, line.qty_text(), line.fixed_price),
        (apples.id, 456, "0.456kg".to_owned(), None)
    );
    let weighed = (per_kg * 456 + 500) / 1000;
    assert_eq!(lane.priced().expect("priced").total.fen(), weighed);
    // A price label: ¥12.34 of apples.
    let label = ean13_from_body(&format!("20{APPLES_PLU}01234")).expect("ean");
    lane.scan(&label).await.expect("price label");
    assert_eq!(
        lane.basket().lines[1].fixed_price,
        Some(Money::from_fen(1234))
    );
    assert_eq!(lane.priced().expect("priced").total.fen(), weighed + 1234);
    let due = lane.due();
    let PaymentOutcome::Completed(done) = lane.pay(PaymentMethod::Cash, due).await.expect("pay")
    else {
        panic!("not completed")
    };
    let sold: Vec<_> = done.sale.lines.iter().map(|l| (l.sku_id, l.qty)).collect();
    assert_eq!(
        sold,
        [
            (apples.id, 456),
            (apples.id, (1234 * 1000 + per_kg / 2) / per_kg)
        ]
    );

    // The server goes away and the lane restarts: the chain's layouts come from its database.
    app.stop().await.expect("the server stops cleanly");
    let db = lane.db().clone();
    drop(lane);
    let mut lane = Lane::open(db.clone(), settings).await.expect("lane");
    lane.sign_in(crate::support::CASHIER, crate::support::PIN)
        .expect("sign in");
    let label = ean13_from_body(&format!("28{APPLES_PLU}00250")).expect("ean");
    lane.scan(&label).await.expect("weight label offline");
    assert_eq!(lane.basket().lines[0].qty_text(), "0.250kg");
    drop(lane);

    // A lane configured with its own layouts reads labels with those: under the Chinese price
    // layout (prefixes 20–29) the same label is ¥2.50 of apples.
    let mut lane = Lane::open(db, lane_settings("epson-tm-t88v"))
        .await
        .expect("lane");
    lane.sign_in(crate::support::CASHIER, crate::support::PIN)
        .expect("sign in");
    lane.scan(&label).await.expect("price label");
    assert_eq!(
        lane.basket().lines[0].fixed_price,
        Some(Money::from_fen(250))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_server_sends_the_chinese_price_layout() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 6").await;
    let dir = tempfile::tempdir().expect("dir");
    let (_, lane) = synced_lane(&app, &credential, dir.path()).await;
    assert_eq!(
        lane.context().variable_measure,
        Some(vec![VariableMeasureLayout::cn_default()])
    );
    let db = lane.db().clone();
    drop(lane);
    let mut settings = lane_settings("epson-tm-t88v");
    settings.layouts = Vec::new();
    let mut lane = Lane::open(db, settings).await.expect("lane");
    lane.sign_in(crate::support::CASHIER, crate::support::PIN)
        .expect("sign in");
    // The scale label the store day prints: ¥12.34 of the demo's apples.
    let label = ean13_from_body(&format!("20{APPLES_PLU}01234")).expect("ean");
    assert_eq!(label, "2010001012344");
    assert_eq!(
        lane.scan(&label).await.expect("price label"),
        ScanOutcome::LineAdded(1)
    );
    let line = &lane.basket().lines[0];
    assert!(line.sku.weighed && line.sku.barcodes.iter().any(|b| b == APPLES_PLU));
    assert_eq!(line.fixed_price, Some(Money::from_fen(1234)));
}
