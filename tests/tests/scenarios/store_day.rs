//! A whole store day, end to end, on SQLite and on PostgreSQL: the real server, a private
//! Mosquitto (killed and restarted mid-day), SH001's edge agent and two POS lanes with virtual
//! devices (the store-day harness of this crate), played as the store would live it:
//!
//! 1. the lanes open their shifts; lane 2 loses the network and keeps selling, then syncs;
//! 2. sales with a member (the member code from the shop's member centre scanned into the lane's
//!    scanner), a weighed item (a scale's price label), a chain promotion (满100减10); part of a
//!    lane-2 sale is returned at lane 1 by scanning its receipt's QR code;
//! 3. a shopper orders online for pickup with a coupon, pays at the sandbox provider, the pick
//!    slip prints at the edge agent, the order is made ready and collected at lane 1 by scanning
//!    its pickup code; another member uses a coupon at lane 1;
//! 4. scan-and-go: the shopper pays on the phone and leaves through the gate (relay OPEN); the
//!    same pass is refused the second time; a basket over the threshold is sent to audit — all
//!    while the broker is down, so the gate's events wait in the agent's outbox;
//! 5. the broker comes back and the events arrive at the server exactly once;
//! 6. the lanes close their shifts and print their Z reports;
//! 7. the books: every sale on the server exactly once, stock = opening − sold + returned per
//!    SKU, members' points = earned − spent per their ledgers and purchases, and the console
//!    dashboard's sales by channel = the sum of the receipts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use retail_domain::codes::{CodeVerifier, SignedCode};
use retail_domain::money::Money;
use retail_domain::wire::bus::GateDecision;
use retail_scenarios::day::{scale_label, DayBus, DayOptions, StoreDay, STORE};
use retail_scenarios::web::{between, Browser};
use retail_testkit::{eventually, Database};
use serde_json::{json, Value};
use uuid::Uuid;

/// Generous: conditions are waited for, never timed.
const WAIT: Duration = Duration::from_secs(90);

/// A packaged item with stock at the store.
#[derive(Clone, Debug)]
struct Item {
    sku: Uuid,
    barcode: String,
    price: Money,
}

/// The money after `key ` in a lane's answer (`… total 12.30 due 12.30`).
fn money_after(answer: &str, key: &str) -> Money {
    retail_testkit::lane::money_after(answer, key)
        .unwrap_or_else(|| panic!("no {key} in {answer:?}"))
}

/// The dashboard's "by channel" figures (label → fen).
fn channel_figures(html: &str) -> BTreeMap<String, i64> {
    let section = html
        .split("按渠道")
        .nth(1)
        .and_then(|s| s.split("<h2").next())
        .expect("the by-channel card");
    let mut out = BTreeMap::new();
    for part in section.split("<span class=\"l\">").skip(1) {
        let label = part.split("</span>").next().unwrap().to_owned();
        let amount: Money = between(part, "<span>¥", "</span>")
            .expect("an amount")
            .parse()
            .expect("money");
        out.insert(label, amount.fen());
    }
    out
}

async fn dashboard(url: &str) -> BTreeMap<String, i64> {
    let mut manager = Browser::console(url, "mgr.sh001").await.unwrap();
    let page = manager.get("/console").await.unwrap();
    assert_eq!(page.status, 200);
    channel_figures(&page.body)
}

async fn items(day: &StoreDay, token: &str, n: usize) -> Vec<Item> {
    let page = day
        .api
        .get_ok(
            &format!("/stock?location_id={STORE}&limit=300"),
            Some(token),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for level in page["items"].as_array().unwrap() {
        if level["available"].as_i64().unwrap_or(0) < 60 {
            continue;
        }
        let id: Uuid = level["sku_id"].as_str().unwrap().parse().unwrap();
        let Some(sku) =
            retail_server::storage::catalog::sku(&day.server.state.store, id, Some(STORE))
                .await
                .unwrap()
        else {
            continue;
        };
        let price = sku.effective_price();
        if sku.weighed
            || sku.status != retail_domain::wire::catalog::ShelfStatus::OnShelf
            || sku.barcodes.is_empty()
            || sku.member_price.is_some()
            || !(500..=4_000).contains(&price.fen())
        {
            continue;
        }
        out.push(Item {
            sku: id,
            barcode: sku.barcodes[0].clone(),
            price,
        });
        if out.len() == n {
            break;
        }
    }
    assert_eq!(out.len(), n, "enough packaged items with stock at {STORE}");
    out
}

async fn on_hand(day: &StoreDay, token: &str, sku: Uuid) -> i64 {
    let page = day
        .api
        .get_ok(
            &format!("/stock?location_id={STORE}&sku_id={sku}"),
            Some(token),
        )
        .await
        .unwrap();
    page["items"][0]["on_hand"].as_i64().expect("on hand")
}

async fn member_id(day: &StoreDay, token: &str, phone: &str) -> Uuid {
    let body = day
        .api
        .post_ok(
            "/members/lookup",
            Some(token),
            &serde_json::json!({ "phone": phone }),
        )
        .await
        .unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

/// A member's points and their whole ledger (oldest first).
async fn points(day: &StoreDay, token: &str, member: Uuid) -> (i64, Vec<Value>) {
    let m = day
        .api
        .get_ok(&format!("/members/{member}"), Some(token))
        .await
        .unwrap();
    let mut ledger = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/members/{member}/points?limit=100&after={a}"),
            None => format!("/members/{member}/points?limit=100"),
        };
        let page = day.api.get_ok(&path, Some(token)).await.unwrap();
        ledger.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_str() {
            Some(a) => after = Some(a.to_owned()),
            None => break,
        }
    }
    ledger.reverse();
    (m["points"].as_i64().unwrap(), ledger)
}

/// Rows of the server's database (the test reads its books directly).
async fn server_rows(day: &StoreDay, sql: &str, bind: &str) -> Vec<(String, i64)> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&day.server.settings.database_url)
        .await
        .unwrap();
    let rows = sqlx::query(sql).bind(bind).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect()
}

async fn play(database: Database) {
    let Some(mosquitto) = retail_testkit::broker::binary_or_skip() else {
        return;
    };
    retail_testkit::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let promotion = json!({
        "id": retail_domain::ids::new_id(), "name_zh": "满100减10", "name_en": "10 off 100",
        "starts_at": now - chrono::Duration::minutes(5), "ends_at": now + chrono::Duration::days(1),
        "rule": {"kind": "full_reduction", "tiers": [{"threshold": "100.00", "reduction": "10.00"}]}
    });
    let mut day = StoreDay::start(DayOptions {
        data_dir: dir.path().to_path_buf(),
        database: database.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        bus: DayBus::Mosquitto(mosquitto),
        echo: false,
        audit_over: Money::from_fen(10_000),
        promotions: vec![promotion],
    })
    .await
    .expect("the day starts");
    let url = day.server.url.clone();
    // The day's business starts now (the demo chain's opening balances are older).
    let day_start = chrono::Utc::now().timestamp_millis();
    let admin = day.api.login("admin").await.unwrap();
    let manager = day.api.login("mgr.sh001").await.unwrap();

    // The morning: items, members, opening stock and points, the dashboard before the day.
    let goods = items(&day, &manager, 5).await;
    let [a, b, c, d, e] = <[Item; 5]>::try_from(goods).unwrap();
    let scale = day.scale_item.clone();
    let touched = [a.sku, b.sku, c.sku, d.sku, e.sku, scale.sku_id];
    let mut opening = HashMap::new();
    for sku in touched {
        opening.insert(sku, on_hand(&day, &manager, sku).await);
    }
    let phones = ["13800138001", "13800138002", "13800138003"];
    let mut members = Vec::new();
    for phone in phones {
        let id = member_id(&day, &manager, phone).await;
        let (pts, _) = points(&day, &admin, id).await;
        members.push((id, pts));
    }
    let mut sold: HashMap<Uuid, i64> = HashMap::new();
    let mut returned: HashMap<Uuid, i64> = HashMap::new();
    // Purchases per member: (order id, amount the points are earned on).
    let mut purchases: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let before = dashboard(&url).await;
    let mut phone1 = Browser::shopper(&url, phones[0]).await.unwrap();

    // 1. Shifts open.
    day.lane(1).ok("shift open 200.00").await.unwrap();
    day.lane(2).ok("shift open 100.00").await.unwrap();

    // 2. Lane 1: a member (code from the phone), A (enough for the promotion), a weighed item by
    //    price label, B.
    let lane1 = day.lane(1);
    let answer = lane1
        .scan_ok(&phone1.member_code().await.unwrap())
        .await
        .unwrap();
    assert!(answer.contains("member"), "{answer}");
    lane1.scan_ok(&a.barcode).await.unwrap();
    let qty_a = ((10_000 - 1_234 - b.price.fen()) / a.price.fen() + 1).max(2);
    lane1.ok(&format!("qty 1 {qty_a}")).await.unwrap();
    lane1
        .scan_ok(&scale_label(Money::from_fen(1_234)).unwrap())
        .await
        .unwrap();
    let answer = lane1.scan_ok(&b.barcode).await.unwrap();
    let list = a.price.fen() * qty_a + 1_234 + b.price.fen();
    let due = money_after(&answer, "due");
    assert!(list >= 10_000, "the basket reaches the promotion: {list}");
    assert_eq!(due.fen(), list - 1_000, "满100减10 applied: {answer}");
    lane1.ok(&format!("pay cash {due}")).await.unwrap();
    *sold.entry(a.sku).or_default() += qty_a;
    // The label stands for its weight at the per-kg price, to the gram: that leaves the shelf.
    let per_kg = scale.price_per_kg.fen();
    *sold.entry(scale.sku_id).or_default() += (1_234 * 1000 + per_kg / 2) / per_kg;
    *sold.entry(b.sku).or_default() += 1;
    let s1 = lane1.sales()[0].clone();
    assert_eq!(s1.total_fen, due.fen());
    purchases.entry(members[0].0).or_default().push(s1.id);
    let text = lane1.printed_text();
    assert!(text.contains(&s1.sale_no), "{text}");
    assert!(
        text.contains("烟台红富士苹果"),
        "the weighed item on the receipt: {text}"
    );

    // Lane 2 loses the network and keeps selling: the same member (verified offline), C × 3
    // and D by card; then E for cash without a member.
    day.lane2_network.go_offline().await;
    let lane2 = day.lane(2);
    let answer = lane2
        .scan_ok(&phone1.member_code().await.unwrap())
        .await
        .unwrap();
    assert!(answer.contains("verified offline"), "{answer}");
    lane2.scan_ok(&c.barcode).await.unwrap();
    lane2.ok("qty 1 3").await.unwrap();
    let answer = lane2.scan_ok(&d.barcode).await.unwrap();
    lane2
        .ok(&format!("pay card {}", money_after(&answer, "due")))
        .await
        .unwrap();
    let answer = lane2.scan_ok(&e.barcode).await.unwrap();
    let due = money_after(&answer, "due");
    lane2.ok(&format!("pay cash {due}")).await.unwrap();
    *sold.entry(c.sku).or_default() += 3;
    *sold.entry(d.sku).or_default() += 1;
    *sold.entry(e.sku).or_default() += 1;
    let lane2_sales = lane2.sales();
    assert_eq!(lane2_sales.len(), 2);
    purchases
        .entry(members[0].0)
        .or_default()
        .push(lane2_sales[0].id);
    // Its pushes fail: it knows it is offline, with both sales waiting in its journal.
    eventually("lane 2 notices it is offline", WAIT, || async {
        let s = lane2.command("status").await.ok()?;
        (s.starts_with("OK offline") && s.contains("unsent 2")).then_some(())
    })
    .await
    .unwrap();
    // Back on the network: the journal syncs.
    day.lane2_network.go_online().await.unwrap();
    eventually("lane 2 syncs its offline sales", WAIT, || async {
        let s = lane2.command("status").await.ok()?;
        (s.starts_with("OK online") && s.contains("unsent 0")).then_some(())
    })
    .await
    .unwrap();

    // A return at lane 1 of one C from lane 2's first sale: its receipt's QR code.
    let receipt_code = lane2
        .printed_codes()
        .into_iter()
        .find(|c| c.starts_with("RC2."))
        .expect("lane 2's receipt carries its code");
    let answer = lane1.scan_ok(&receipt_code).await.unwrap();
    assert!(answer.contains("return"), "{answer}");
    let answer = lane1.ok("return 1:1 mgr.sh001 246810").await.unwrap();
    assert!(answer.contains("return recorded"), "{answer}");
    *returned.entry(c.sku).or_default() += 1;
    assert!(lane1.printed_text().contains("退货单"));

    // 3. Online order for pickup, with a coupon, paid at the sandbox provider.
    let mut phone2 = Browser::shopper(&url, phones[1]).await.unwrap();
    let template = retail_domain::ids::new_id();
    day.api
        .post_ok(
            "/coupon-templates",
            Some(&admin),
            &json!({"id": template,
                "terms": {"name_zh": "满20减5券", "rule": {"kind": "threshold", "min_spend": "20.00", "amount": "5.00"},
                          "stacks_with_promotions": true},
                "issue_on": "staff", "valid_from": now - chrono::Duration::minutes(5),
                "valid_until": now + chrono::Duration::days(1), "per_member_limit": 1, "stock_total": 10}),
        )
        .await
        .unwrap();
    let coupon = retail_domain::ids::new_id();
    day.api
        .post_ok(
            &format!("/coupon-templates/{template}/issue"),
            Some(&admin),
            &json!({"coupon_id": coupon, "member_id": members[1].0}),
        )
        .await
        .unwrap();
    let qty_d = 20_00 / d.price.fen() + 1;
    let member_code2 = phone2.member_code().await.unwrap();
    // What the basket costs the member without the coupon (member prices, promotions).
    let quote = day
        .api
        .post_ok(
            "/pricing/quote",
            None,
            &json!({"store": STORE, "member_code": member_code2,
                "lines": [{"sku_id": d.sku, "qty": qty_d}]}),
        )
        .await
        .unwrap();
    let without_coupon: Money = serde_json::from_value(quote["amount_due"].clone()).unwrap();
    let order = day
        .api
        .post_ok(
            "/orders",
            None,
            &json!({"id": retail_domain::ids::new_id(), "fulfilment": "pickup", "store": STORE,
                "lines": [{"sku_id": d.sku, "qty": qty_d}],
                "member_code": member_code2, "coupons": [coupon]}),
        )
        .await
        .unwrap();
    let order_id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    let order_no = order["order_no"].as_str().unwrap().to_owned();
    let online_total: Money = serde_json::from_value(order["total"].clone()).unwrap();
    assert_eq!(
        online_total.fen(),
        without_coupon.fen() - 500,
        "the coupon took 5.00 off: {order}"
    );
    let intent = day
        .api
        .post_ok(
            &format!("/orders/{order_id}/payments"),
            None,
            &json!({"id": retail_domain::ids::new_id()}),
        )
        .await
        .unwrap();
    day.api
        .confirm_payment(intent["pay_url"].as_str().unwrap())
        .await
        .unwrap();
    *sold.entry(d.sku).or_default() += qty_d;
    purchases.entry(members[1].0).or_default().push(order_id);
    // The pick slip prints at the store's pickup counter.
    let slip = eventually("the pick slip prints", WAIT, || async {
        let text = day.edge.pick_slips_text();
        text.contains(&order_no).then_some(text)
    })
    .await
    .unwrap();
    assert!(slip.contains(&qty_d.to_string()), "{slip}");
    // And the readable copy beside the raw bytes.
    eventually("the pick slip's text file", WAIT, || async {
        std::fs::read_to_string(&day.edge.pick_slips_text)
            .ok()
            .filter(|t| t.contains(&order_no))
    })
    .await
    .unwrap();
    day.api
        .post_ok(
            &format!("/orders/{order_id}/ready"),
            Some(&manager),
            &json!({}),
        )
        .await
        .unwrap();
    let view = day
        .api
        .get_ok(&format!("/orders/{order_id}"), Some(&manager))
        .await
        .unwrap();
    let pickup_qr = view["pickup_qr"]
        .as_str()
        .expect("the pickup QR")
        .to_owned();
    let answer = lane1.scan_ok(&pickup_qr).await.unwrap();
    assert!(answer.contains("handed over"), "{answer}");
    let coupons = day
        .api
        .get_ok(&format!("/members/{}/coupons", members[1].0), Some(&admin))
        .await
        .unwrap();
    let used = coupons["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(coupon))
        .expect("the coupon");
    assert_eq!(
        (used["status"].as_str(), used["order_id"].as_str()),
        (Some("used"), Some(order_id.to_string().as_str()))
    );

    // A coupon at the till: the third member gets one from the same template and uses it at
    // lane 1 (online); the engine takes 5.00 off and the server marks it used by that sale.
    let coupon3 = retail_domain::ids::new_id();
    day.api
        .post_ok(
            &format!("/coupon-templates/{template}/issue"),
            Some(&admin),
            &json!({"coupon_id": coupon3, "member_id": members[2].0}),
        )
        .await
        .unwrap();
    let mut phone3 = Browser::shopper(&url, phones[2]).await.unwrap();
    lane1
        .scan_ok(&phone3.member_code().await.unwrap())
        .await
        .unwrap();
    lane1.scan_ok(&e.barcode).await.unwrap();
    let qty_e = 30_00 / e.price.fen() + 1;
    let answer = lane1.ok(&format!("qty 1 {qty_e}")).await.unwrap();
    let before_coupon = money_after(&answer, "due");
    let answer = lane1.ok("coupons").await.unwrap();
    assert!(answer.contains("满20减5券"), "{answer}");
    let answer = lane1.ok("coupon 1").await.unwrap();
    let due = money_after(&answer, "due");
    assert_eq!(due.fen(), before_coupon.fen() - 500, "{answer}");
    lane1.ok(&format!("pay cash {due}")).await.unwrap();
    *sold.entry(e.sku).or_default() += qty_e;
    let s_coupon = lane1.sales().last().cloned().unwrap();
    assert_eq!(s_coupon.total_fen, due.fen());
    purchases.entry(members[2].0).or_default().push(s_coupon.id);
    eventually("the till's coupon is used on the server", WAIT, || async {
        let coupons = day
            .api
            .get_ok(&format!("/members/{}/coupons", members[2].0), Some(&admin))
            .await
            .ok()?;
        coupons["items"].as_array()?.iter().find(|c| {
            c["id"] == json!(coupon3)
                && c["status"] == "used"
                && c["order_id"].as_str() == Some(s_coupon.id.to_string().as_str())
        })?;
        Some(())
    })
    .await
    .unwrap();

    // 4. Scan-and-go while the broker is down: the gate decides offline.
    // The key the edge agent pinned, fetched as it does (with its device credential).
    let key = day
        .api
        .get_ok(
            "/devices/me/code-verifier",
            Some(&day.devices.edge.credential),
        )
        .await
        .unwrap();
    let verifier = CodeVerifier::from_public_b64(key["public_key"].as_str().unwrap()).unwrap();
    // The same phone, still logged in (a second log-in within a minute would wait for the
    // one-code-per-minute limit of SMS log-in).
    let pass1 = phone3
        .scan_and_go(STORE, &[(e.barcode.clone(), e.sku, 2)])
        .await
        .unwrap();
    let qty_b = 12_000 / b.price.fen() + 1;
    let pass2 = phone3
        .scan_and_go(STORE, &[(b.barcode.clone(), b.sku, qty_b)])
        .await
        .unwrap();
    *sold.entry(e.sku).or_default() += 2;
    *sold.entry(b.sku).or_default() += qty_b;
    let mut scan_totals = 0;
    for pass in [&pass1, &pass2] {
        let SignedCode::ExitPass(p) = verifier.verify(pass, chrono::Utc::now()).unwrap() else {
            panic!("not an exit pass")
        };
        scan_totals += p.total.fen();
    }
    day.broker.as_mut().unwrap().kill().await;
    day.edge.scan_at_gate(0, &pass1).unwrap();
    eventually("the gate opens", WAIT, || async {
        day.edge
            .relay_commands()
            .contains(&"OPEN".to_owned())
            .then_some(())
    })
    .await
    .unwrap();
    day.edge.scan_at_gate(0, &pass1).unwrap();
    day.edge.scan_at_gate(0, &pass2).unwrap();
    let verdicts = eventually("three gate decisions", WAIT, || async {
        let v = day.edge.verdicts();
        (v.len() == 3).then_some(v)
    })
    .await
    .unwrap();
    assert_eq!(
        verdicts.iter().map(|v| v.decision).collect::<Vec<_>>(),
        [GateDecision::Open, GateDecision::Deny, GateDecision::Audit]
    );
    // The refused pass and the audited basket sound the alarm; the gate opened once.
    eventually(
        "the alarm for the refused and the audited pass",
        WAIT,
        || async {
            let relay = day.edge.relay_commands();
            (relay.iter().filter(|c| *c == "ALARM ON").count() == 2).then_some(())
        },
    )
    .await
    .unwrap();
    assert_eq!(
        day.edge
            .relay_commands()
            .iter()
            .filter(|c| *c == "OPEN")
            .count(),
        1
    );
    let sessions: Vec<Uuid> = [&verdicts[0], &verdicts[2]]
        .iter()
        .map(|v| v.session_id.unwrap())
        .collect();
    let store = day.server.state.store.clone();
    assert_eq!(
        retail_server::storage::bus::exit_passes_used_count(&store, STORE)
            .await
            .unwrap(),
        0,
        "nothing reaches the server while the broker is down"
    );

    // 5. The broker comes back: the events arrive, once.
    day.broker.as_mut().unwrap().start().await.unwrap();
    for (session, decision) in [(sessions[0], "open"), (sessions[1], "audit")] {
        let used = eventually("the gate's event reaches the server", WAIT, || async {
            retail_server::storage::bus::exit_pass_use(&store, session)
                .await
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(used.2, decision);
    }
    let edge = day.devices.edge.id.to_string();
    let events = eventually("every event of the agent recorded", WAIT, || async {
        let rows = server_rows(
            &day,
            "SELECT kind, COUNT(*) FROM bus_messages WHERE device_id = $1 AND kind <> 'status' GROUP BY kind",
            &edge,
        )
        .await;
        let map: BTreeMap<String, i64> = rows.into_iter().collect();
        (map.get("exit_scan") == Some(&3)).then_some(map)
    })
    .await
    .unwrap();
    assert_eq!(events.get("pick_slip_printed"), Some(&1), "{events:?}");
    assert_eq!(
        retail_server::storage::bus::exit_passes_used_count(&store, STORE)
            .await
            .unwrap(),
        2
    );
    // Both baskets left the store (opened, and audited): their orders are completed.
    let statuses = server_rows(
        &day,
        "SELECT status, COUNT(*) FROM orders WHERE channel = 'scan_and_go' AND location_id = $1 \
         GROUP BY status",
        STORE,
    )
    .await;
    assert_eq!(statuses, [("completed".to_owned(), 2)]);

    // 6. Shifts close; the Z reports print.
    for lane in &day.lanes {
        let answer = lane.ok("shift close 0.00").await.unwrap();
        assert!(answer.contains("Z report printed"), "{answer}");
        let text = lane.printed_text();
        assert!(text.contains("Z 报表 Z REPORT"), "{text}");
    }
    let z1 = day.lane(1).printed_text();
    assert!(z1.contains("销售笔数 Sales"), "{z1}");

    // 7. The books.
    let mut receipts: Vec<(Uuid, i64)> = day
        .lanes
        .iter()
        .flat_map(|l| l.sales())
        .map(|s| (s.id, s.total_fen))
        .collect();
    receipts.sort();
    let mut on_server: Vec<(String, i64)> = server_rows(
        &day,
        "SELECT id, total_fen FROM orders WHERE channel = 'pos' AND location_id = $1",
        STORE,
    )
    .await;
    on_server.sort();
    assert_eq!(
        on_server,
        receipts
            .iter()
            .map(|(id, t)| (id.to_string(), *t))
            .collect::<Vec<_>>(),
        "every lane sale on the server exactly once"
    );
    let ids: HashSet<&String> = on_server.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 4);
    // The server's engine priced every lane sale as the lane did (price labels included).
    let mismatches = server_rows(
        &day,
        "SELECT entity_id, at FROM audit_log WHERE action = $1",
        "sale.price_mismatch",
    )
    .await;
    assert!(
        mismatches.is_empty(),
        "lane sales re-priced differently: {mismatches:?}"
    );

    for sku in touched {
        let expected = opening[&sku] - sold.get(&sku).copied().unwrap_or(0)
            + returned.get(&sku).copied().unwrap_or(0);
        assert_eq!(
            on_hand(&day, &manager, sku).await,
            expected,
            "stock of {sku}: opening {} sold {:?} returned {:?}",
            opening[&sku],
            sold.get(&sku),
            returned.get(&sku)
        );
    }

    for (member, start) in &members {
        let (now_points, ledger) = points(&day, &admin, *member).await;
        let total: i64 = ledger.iter().map(|e| e["delta"].as_i64().unwrap()).sum();
        assert_eq!(now_points, total, "points = the sum of the ledger");
        let today: Vec<&Value> = ledger
            .iter()
            .filter(|e| {
                e["created_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t.timestamp_millis() >= day_start)
            })
            .collect();
        let earned: i64 = today
            .iter()
            .filter(|e| e["kind"] == "earn")
            .map(|e| e["delta"].as_i64().unwrap())
            .sum();
        let spent: i64 = today
            .iter()
            .filter(|e| e["kind"] != "earn")
            .map(|e| -e["delta"].as_i64().unwrap())
            .sum();
        assert_eq!(now_points - start, earned - spent, "{ledger:?}");
        // Each purchase earned, by its order.
        for order in purchases.get(member).into_iter().flatten() {
            assert!(
                today.iter().any(|e| e["kind"] == "earn"
                    && e["ref_id"].as_str() == Some(order.to_string().as_str())
                    && e["delta"].as_i64().unwrap() > 0),
                "no points earned for {order}: {today:?}"
            );
        }
    }
    // The return took back part of what lane 2's member sale earned.
    let (_, ledger1) = points(&day, &admin, members[0].0).await;
    assert!(
        ledger1.iter().any(|e| e["delta"].as_i64().unwrap() < 0),
        "the return reversed points: {ledger1:?}"
    );

    let after = dashboard(&url).await;
    let delta = |label: &str| {
        after.get(label).copied().unwrap_or(0) - before.get(label).copied().unwrap_or(0)
    };
    assert_eq!(
        delta("门店收银"),
        receipts.iter().map(|r| r.1).sum::<i64>(),
        "{after:?}"
    );
    assert_eq!(delta("线上"), online_total.fen(), "{after:?}");
    assert_eq!(delta("扫码购"), scan_totals, "{after:?}");

    day.stop().await.expect("everything stops cleanly");
    if let Database::Postgres(url) = database {
        retail_testkit::postgres::drop_database(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_day_on_sqlite() {
    play(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_day_on_postgres() {
    if let Some(url) = retail_testkit::postgres::fresh_database_or_skip().await {
        play(Database::Postgres(url)).await;
    }
}
