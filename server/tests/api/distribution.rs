//! Share links and distribution (分销, issue 17) through the API, on SQLite and PostgreSQL: a
//! share link is the same every time and a tampered one is refused (400) and records nothing;
//! opening binds a buyer to a distributor first-touch until the binding expires; a bound buyer's
//! paid order credits frozen commission on what each line paid after a coupon, on one level or
//! three; the sweeper releases it once after the after-sale window; a refund before release
//! reverses it from frozen, one after release from available; a withdrawal above available is
//! refused with nothing changed, one within it is held, approved and marked paid; and every
//! distributor's balances always equal the sums of their ledger rows.

use reqwest::StatusCode;
use retail_server::app::distribution;
use retail_server::storage;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

use crate::group_buys::count;
use crate::member_perks::as_member;

async fn member_post(app: &TestApp, member: Uuid, path: &str, body: Value) -> (StatusCode, Value) {
    as_member(app, member, reqwest::Method::POST, path, Some(body)).await
}

/// An active distributor: applied and approved by head office.
pub(crate) async fn distributor(app: &TestApp, phone: &str) -> Uuid {
    let member = crate::group_buys::new_member(app, phone).await;
    let (status, applied) = member_post(app, member, "/api/v1/distributor/apply", json!({})).await;
    assert_eq!(
        (status, applied["status"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{applied}"
    );
    let admin = app.login("admin").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/distribution/distributors/{member}/decide"),
            Some(&admin),
            json!({"action": "approve"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("active")),
        "{body}"
    );
    member
}

/// An active distributor and a buyer bound to them (who opened their link of `sku`).
async fn bound_buyer(app: &TestApp, phones: (&str, &str), sku: Uuid) -> (Uuid, Uuid) {
    let dist = distributor(app, phones.0).await;
    let buyer = crate::group_buys::new_member(app, phones.1).await;
    let (_, code) = link(app, dist, sku).await;
    assert_eq!(open(app, buyer, &code).await.0, StatusCode::OK);
    (dist, buyer)
}

/// The member's share link of a SKU: (path, code).
async fn link(app: &TestApp, member: Uuid, sku: Uuid) -> (String, String) {
    let (status, body) = member_post(
        app,
        member,
        "/api/v1/shares/link",
        json!({"target": format!("product:{sku}")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["path"].as_str().unwrap().to_owned(),
        body["code"].as_str().unwrap().to_owned(),
    )
}

async fn open(app: &TestApp, member: Uuid, code: &str) -> (StatusCode, Value) {
    member_post(app, member, "/api/v1/shares/open", json!({"code": code})).await
}

async fn exec(app: &TestApp, sql: &str, bind: &str) {
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query(sql)
        .bind(bind.to_owned())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn balances(app: &TestApp, member: Uuid) -> storage::distribution::Balances {
    let b = storage::distribution::balances(&app.state.store, member)
        .await
        .unwrap();
    // The invariant: the balances are the sums of the ledger's rows.
    assert_eq!(
        b,
        storage::distribution::ledger_sums(&app.state.store, member)
            .await
            .unwrap(),
        "balances of {member} differ from their ledger"
    );
    b
}

fn fen(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("money, got {v}"));
    let (yuan, cents) = text.split_once('.').unwrap();
    yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

/// A delivery order of one unit each of `skus` for `buyer` with `coupons`, paid through the
/// sandbox: (order id, its lines' paid amounts in fen).
async fn paid_order(
    app: &TestApp,
    buyer: Uuid,
    skus: &[Uuid],
    coupons: &[Uuid],
) -> (Uuid, Vec<i64>) {
    let admin = app.login("admin").await;
    let code = crate::pricing::member_code(app, &admin, buyer).await;
    let lines: Vec<Value> = skus
        .iter()
        .map(|s| json!({"sku_id": s, "qty": 1}))
        .collect();
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
                   "member_code": code, "lines": lines, "coupons": coupons}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    crate::refund_approvals::pay_at_sandbox(app, id).await;
    // The commission is decided right after the payment commits.
    for _ in 0..100 {
        if count(
            app,
            "SELECT COUNT(*) FROM distribution_orders WHERE order_id = $1",
            &id.to_string(),
        )
        .await
            > 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, view) = app.get(&format!("/api/v1/orders/{id}"), Some(&admin)).await;
    let amounts = view["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| fen(&l["amount"]))
        .collect();
    (id, amounts)
}

/// Hands a paid pickup order over (ready, then collected with its pickup code).
async fn fulfil(app: &TestApp, order: Uuid) {
    let admin = app.login("admin").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/ready"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = storage::orders::get(&app.state.store, order)
        .await
        .unwrap()
        .pickup_code
        .unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/pickup"),
            Some(&admin),
            json!({"pickup_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Moves the order's fulfilment a year back, so every after-sale window has closed.
async fn window_passed(app: &TestApp, order: Uuid) {
    exec(
        app,
        "UPDATE order_events SET at = at - 31536000000 WHERE order_id = $1",
        &order.to_string(),
    )
    .await;
}

/// Opens the shop page `path` without logging in (it renders): the sharer's opens recorded.
async fn page_opens(app: &TestApp, path: &str, sharer: Uuid) -> i64 {
    let resp = app
        .client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    count(
        app,
        "SELECT COUNT(*) FROM share_opens WHERE sharer_id = $1",
        &sharer.to_string(),
    )
    .await
}

async fn share_links_are_deterministic_and_tamper_proof(app: TestApp) {
    let (sku, _) = crate::group_buys::stocked_sku(&app, 50).await;
    let sharer = crate::group_buys::new_member(&app, "13900170001").await;
    let (path, code) = link(&app, sharer, sku).await;
    assert_eq!(link(&app, sharer, sku).await, (path.clone(), code.clone()));
    assert!(
        path.starts_with("/p/")
            && path.contains(&format!("sku={sku}"))
            && path.ends_with(&format!("&s={code}")),
        "{path}"
    );
    let other = crate::group_buys::new_member(&app, "13900170002").await;
    assert_ne!(
        link(&app, other, sku).await.1,
        code,
        "another sharer, another code"
    );

    let (status, share) = app
        .get(&format!("/api/v1/shares/resolve?code={code}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{share}");
    assert_eq!(share["sharer_id"], sharer.to_string());
    assert_eq!(share["target"], json!({"kind": "product", "id": sku}));

    // Any change to the code: 400, and nothing recorded.
    let mut tampered: Vec<char> = code.chars().collect();
    tampered[10] = if tampered[10] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for bad in [tampered.as_str(), &code[..code.len() - 2], "nonsense", ""] {
        let (status, body) = app
            .get(&format!("/api/v1/shares/resolve?code={bad}"), None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_share_code")),
            "{bad}: {body}"
        );
        let (status, _) = open(&app, other, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // The page with a tampered code renders, without attribution.
    assert_eq!(
        page_opens(&app, &path.replace(&code, &tampered), sharer).await,
        0
    );

    // A real open is recorded once per opener; the sharer's own open is not one.
    for _ in 0..2 {
        let (status, _) = open(&app, other, &code).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = open(&app, sharer, &code).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page_opens(&app, &path, sharer).await,
        2,
        "the member and the anonymous browser"
    );
    // A member who is not a distributor binds nobody.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM distributor_bindings WHERE buyer_id = $1",
            &other.to_string()
        )
        .await,
        0
    );
}
crate::both_backends!(
    share_links_are_deterministic_and_tamper_proof,
    share_links_are_deterministic_and_tamper_proof
);

async fn binding_is_first_touch_until_it_expires(app: TestApp) {
    let (sku, _) = crate::group_buys::stocked_sku(&app, 50).await;
    let first = distributor(&app, "13900170011").await;
    let second = distributor(&app, "13900170012").await;
    let buyer = crate::group_buys::new_member(&app, "13900170013").await;
    let (_, first_code) = link(&app, first, sku).await;
    let (_, second_code) = link(&app, second, sku).await;
    let bound = |app: &TestApp| {
        let store = app.state.store.clone();
        async move {
            storage::distribution::binding(&store, buyer)
                .await
                .unwrap()
                .map(|b| b.0)
        }
    };
    assert_eq!(open(&app, buyer, &first_code).await.0, StatusCode::OK);
    assert_eq!(bound(&app).await, Some(first));
    // First touch: the second distributor's link does not take the buyer over …
    assert_eq!(open(&app, buyer, &second_code).await.0, StatusCode::OK);
    assert_eq!(bound(&app).await, Some(first));
    // … until the binding has expired.
    exec(
        &app,
        "UPDATE distributor_bindings SET expires_at = 1 WHERE buyer_id = $1",
        &buyer.to_string(),
    )
    .await;
    assert_eq!(open(&app, buyer, &second_code).await.0, StatusCode::OK);
    assert_eq!(bound(&app).await, Some(second));
    // The team shows the buyer (masked) to the distributor bound now.
    let (status, team) = as_member(
        &app,
        second,
        reqwest::Method::GET,
        "/api/v1/distributor/team",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{team}");
    assert_eq!(team.as_array().unwrap().len(), 1, "{team}");
    assert_eq!(team[0]["member"]["phone"], "139****0013");
    // A rejected application binds nobody; deciding it twice otherwise is 409.
    let applicant = crate::group_buys::new_member(&app, "13900170014").await;
    member_post(&app, applicant, "/api/v1/distributor/apply", json!({})).await;
    let admin = app.login("admin").await;
    let decide = format!("/api/v1/distribution/distributors/{applicant}/decide");
    let (status, body) = app
        .post(
            &decide,
            Some(&admin),
            json!({"action": "reject", "text": "资料不全"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("rejected")),
        "{body}"
    );
    let (status, body) = app
        .post(&decide, Some(&admin), json!({"action": "approve"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_waiting")),
        "{body}"
    );
    let (_, applicant_code) = link(&app, applicant, sku).await;
    let late = crate::group_buys::new_member(&app, "13900170015").await;
    open(&app, late, &applicant_code).await;
    assert_eq!(
        storage::distribution::binding(&app.state.store, late)
            .await
            .unwrap(),
        None
    );
}
crate::both_backends!(
    binding_is_first_touch_until_it_expires,
    binding_is_first_touch_until_it_expires
);

/// A ¥200 + ¥120 basket with a 满200减20 coupon, bought by a buyer bound to a distributor: the
/// commission is 5% (the default rate) of each line's paid amount after the coupon, frozen;
/// nothing is released before the order is fulfilled and its window passed, then all of it,
/// once; a withdrawal above available is refused, one within it held, approved and paid.
async fn commission_is_frozen_released_once_and_withdrawn(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, b) = crate::pricing::two_priced_skus(&app, &admin).await;
    let (dist, buyer) = bound_buyer(&app, ("13900170021", "13900170022"), a).await;
    let template = crate::pricing::coupon_template(&app, &admin, "staff", None).await;
    let coupon = crate::pricing::issue_coupon(&app, &admin, template, buyer).await;

    let (order, amounts) = paid_order(&app, buyer, &[a, b], &[coupon]).await;
    let paid: i64 = amounts.iter().sum();
    assert!(paid <= 30_000, "the coupon came off: {amounts:?}");
    let expected: i64 = amounts.iter().map(|f| f * 500 / 10_000).sum();
    assert!(expected > 0);
    assert_eq!(balances(&app, dist).await.frozen_fen, expected);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM share_orders WHERE order_id = $1",
            &order.to_string()
        )
        .await,
        1,
        "who shared → who bought"
    );
    let (status, centre) = as_member(
        &app,
        dist,
        reqwest::Method::GET,
        "/api/v1/distributor",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{centre}");
    assert_eq!(centre["balances"]["frozen_fen"], expected);
    assert_eq!(centre["share_orders"], 1);

    // Not fulfilled: nothing is released, whatever the sweep.
    distribution::release_due(&app.state).await.unwrap();
    assert_eq!(balances(&app, dist).await.available_fen, 0);
    fulfil(&app, order).await;
    distribution::release_due(&app.state).await.unwrap();
    assert_eq!(
        balances(&app, dist).await.available_fen,
        0,
        "the window is open"
    );
    window_passed(&app, order).await;
    distribution::release_due(&app.state).await.unwrap();
    distribution::release_due(&app.state).await.unwrap();
    let after = balances(&app, dist).await;
    assert_eq!((after.frozen_fen, after.available_fen), (0, expected));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM distribution_ledger WHERE kind = 'release' AND order_id = $1",
            &order.to_string()
        )
        .await,
        2,
        "each line released once"
    );

    // Above available: 409, nothing changed.
    let over = json!({"id": Uuid::now_v7(), "amount": format!("{}.{:02}", (expected + 1) / 100, (expected + 1) % 100)});
    let (status, body) = member_post(&app, dist, "/api/v1/distributor/withdrawals", over).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("insufficient_balance")),
        "{body}"
    );
    assert_eq!(balances(&app, dist).await, after);
    // Not a distributor: 403.
    let (status, _) = member_post(
        &app,
        buyer,
        "/api/v1/distributor/withdrawals",
        json!({"id": Uuid::now_v7(), "amount": "0.01"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Within it: held, by client id.
    let id = Uuid::now_v7();
    let ask = json!({"id": id, "amount": format!("{}.{:02}", expected / 100, expected % 100)});
    for _ in 0..2 {
        let (status, w) =
            member_post(&app, dist, "/api/v1/distributor/withdrawals", ask.clone()).await;
        assert_eq!(
            (status, w["status"].as_str()),
            (StatusCode::OK, Some("requested")),
            "{w}"
        );
    }
    let held = balances(&app, dist).await;
    assert_eq!((held.available_fen, held.withdrawing_fen), (0, expected));
    let decide = format!("/api/v1/distribution/withdrawals/{id}/decide");
    let (status, body) = app
        .post(
            &decide,
            Some(&admin),
            json!({"action": "paid", "text": "BANK-1"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition")),
        "approve first: {body}"
    );
    let (status, w) = app
        .post(&decide, Some(&admin), json!({"action": "approve"}))
        .await;
    assert_eq!(
        (status, w["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{w}"
    );
    let (status, body) = app
        .post(&decide, Some(&admin), json!({"action": "paid"}))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reference is required: {body}"
    );
    for _ in 0..2 {
        let (status, w) = app
            .post(
                &decide,
                Some(&admin),
                json!({"action": "paid", "text": "BANK-1"}),
            )
            .await;
        assert_eq!(
            (status, w["status"].as_str(), w["reference"].as_str()),
            (StatusCode::OK, Some("paid"), Some("BANK-1")),
            "{w}"
        );
    }
    let done = balances(&app, dist).await;
    assert_eq!(
        (
            done.frozen_fen,
            done.available_fen,
            done.withdrawing_fen,
            done.withdrawn_fen
        ),
        (0, 0, 0, expected)
    );
    let (_, report) = app.get("/api/v1/distribution/report", Some(&admin)).await;
    assert!(
        report["withdrawn_fen"].as_i64().unwrap() >= expected,
        "{report}"
    );
    let (status, board) = app.get("/api/v1/distribution/leaderboard", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        board
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["member"]["phone"] == "139****0021"),
        "{board}"
    );
}
crate::both_backends!(
    commission_is_frozen_released_once_and_withdrawn,
    commission_is_frozen_released_once_and_withdrawn
);

/// A refund before release reverses the commission from frozen (a cancelled paid order); a
/// return after release reverses the returned line's share from available, which may go below
/// zero; a rejected withdrawal comes back to available.
async fn refunds_reverse_commission_before_and_after_release(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, b) = crate::pricing::two_priced_skus(&app, &admin).await;
    let (dist, buyer) = bound_buyer(&app, ("13900170031", "13900170032"), a).await;

    // Cancelled after payment, before release: all of it off frozen, the rows closed.
    let (order, amounts) = paid_order(&app, buyer, &[a], &[]).await;
    let commission = amounts[0] * 500 / 10_000;
    assert_eq!(balances(&app, dist).await.frozen_fen, commission);
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/cancel"),
            Some(&admin),
            json!({"reason": "test"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b1 = balances(&app, dist).await;
    assert_eq!((b1.frozen_fen, b1.available_fen), (0, 0));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM distribution_ledger WHERE kind = 'commission' AND settled_at IS NULL AND order_id = $1", &order.to_string()).await,
        0
    );

    // Released, withdrawn in part, then a line returned: off available.
    let (order, amounts) = paid_order(&app, buyer, &[a, b], &[]).await;
    let (ca, cb) = (amounts[0] * 500 / 10_000, amounts[1] * 500 / 10_000);
    fulfil(&app, order).await;
    window_passed(&app, order).await;
    distribution::release_due(&app.state).await.unwrap();
    assert_eq!(balances(&app, dist).await.available_fen, ca + cb);
    // All of it asked for, then line 1 returned: available goes below zero (owed).
    let id = Uuid::now_v7();
    let all = ca + cb;
    let (status, w) = member_post(
        &app,
        dist,
        "/api/v1/distributor/withdrawals",
        json!({"id": id, "amount": format!("{}.{:02}", all / 100, all % 100)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let (status, ret) = app
        .post("/api/v1/returns", Some(&admin),
            json!({"id": Uuid::now_v7(), "order_id": order, "lines": [{"line_no": 1, "qty": 1}], "reason": "damaged"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ret}");
    let b2 = balances(&app, dist).await;
    assert_eq!(
        (b2.frozen_fen, b2.available_fen, b2.withdrawing_fen),
        (0, -ca, all)
    );
    // Rejected: back to available.
    let (status, w) = app
        .post(
            &format!("/api/v1/distribution/withdrawals/{id}/decide"),
            Some(&admin),
            json!({"action": "reject", "text": "核对中"}),
        )
        .await;
    assert_eq!(
        (status, w["status"].as_str()),
        (StatusCode::OK, Some("rejected")),
        "{w}"
    );
    let b3 = balances(&app, dist).await;
    assert_eq!((b3.available_fen, b3.withdrawing_fen), (cb, 0));
    // The report adds it all up.
    let (_, report) = app.get("/api/v1/distribution/report", Some(&admin)).await;
    assert!(
        report["reversed_fen"].as_i64().unwrap() >= commission + ca,
        "{report}"
    );
}
crate::both_backends!(
    refunds_reverse_commission_before_and_after_release,
    refunds_reverse_commission_before_and_after_release
);

pub(crate) fn three_levels(s: &mut retail_server::config::Settings) {
    s.distribution.levels = 3;
}

/// Recruitment through share links makes a chain of three distributors; a buyer of the last
/// earns each of them commission at their level's rate with three levels, only the last with
/// one; a SKU's own rate wins over the default.
async fn levels_follow_recruitment(app: TestApp, levels: i64) {
    let admin = app.login("admin").await;
    let (sku, _) = crate::group_buys::stocked_sku(&app, 50).await;
    let top = distributor(&app, "13900170041").await;
    let (_, top_code) = link(&app, top, sku).await;
    let mid = crate::group_buys::new_member(&app, "13900170042").await;
    open(&app, mid, &top_code).await;
    member_post(&app, mid, "/api/v1/distributor/apply", json!({})).await;
    app.post(
        &format!("/api/v1/distribution/distributors/{mid}/decide"),
        Some(&admin),
        json!({"action": "approve"}),
    )
    .await;
    let (_, mid_code) = link(&app, mid, sku).await;
    let low = crate::group_buys::new_member(&app, "13900170043").await;
    open(&app, low, &mid_code).await;
    member_post(&app, low, "/api/v1/distributor/apply", json!({})).await;
    let (_, low_row) = app
        .post(
            &format!("/api/v1/distribution/distributors/{low}/decide"),
            Some(&admin),
            json!({"action": "approve"}),
        )
        .await;
    assert_eq!(low_row["parent_id"], mid.to_string(), "{low_row}");
    let (status, rates) = app
        .put("/api/v1/distribution/rates", Some(&admin),
            json!({"scope": "sku", "scope_id": sku, "level1_bp": 1000, "level2_bp": 300, "level3_bp": 100}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rates}");
    let (status, _) = app
        .put(
            "/api/v1/distribution/rates",
            Some(&admin),
            json!({"scope": "sku", "scope_id": sku, "level1_bp": 9000}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let buyer = crate::group_buys::new_member(&app, "13900170044").await;
    let (_, low_code) = link(&app, low, sku).await;
    open(&app, buyer, &low_code).await;
    let (_, amounts) = paid_order(&app, buyer, &[sku], &[]).await;
    let paid = amounts[0];
    let frozen = [low, mid, top].map(|m| balances(&app, m));
    let [l, m, t] = frozen;
    let (l, m, t) = (l.await.frozen_fen, m.await.frozen_fen, t.await.frozen_fen);
    assert_eq!(l, paid * 1000 / 10_000);
    if levels == 3 {
        assert_eq!((m, t), (paid * 300 / 10_000, paid * 100 / 10_000));
    } else {
        assert_eq!((m, t), (0, 0));
    }
    // A distributor's own purchase earns nobody anything.
    let (order, _) = paid_order(&app, low, &[sku], &[]).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM distribution_ledger WHERE order_id = $1",
            &order.to_string()
        )
        .await,
        0
    );
}

async fn one_level(app: TestApp) {
    levels_follow_recruitment(app, 1).await;
}
crate::both_backends!(one_level, one_level);

async fn three_level(app: TestApp) {
    levels_follow_recruitment(app, 3).await;
}
crate::both_backends!(three_level, three_level, crate::distribution::three_levels);

/// In the browser: a shopper applies in the distributor centre and head office approves in the
/// console; the distributor's Share button carries their link; another shopper opens it, logs
/// in (the open and the binding follow the shopper), buys and pays; the distributor sees the commission frozen; once the order is collected and its
/// window has passed the sweeper releases it; the distributor withdraws it and head office
/// approves and marks it paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributor_shares_earns_and_withdraws_in_the_browser() {
    use crate::browser::{
        browser, browser_available, click, console_login, on_element, shopper_login, start_driver,
        text_of, type_into, wait_for_text, wait_path,
    };
    use retail_domain::order::OrderStatus;
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(crate::support::Backend::Sqlite)
        .await
        .expect("app");
    let driver = start_driver().await;
    let sharer = browser(&driver, true).await;
    shopper_login(&sharer, &app, "13700170001", "/").await;
    sharer
        .goto(&format!("{}/distributor", app.url))
        .await
        .unwrap();
    click(&sharer, "#apply").await;
    wait_for_text(&sharer, "#application-waiting", "审核中").await;

    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    desk.goto(&format!("{}/console/distribution", app.url))
        .await
        .unwrap();
    click(&desk, "#applications button.approve").await;
    wait_for_text(&desk, "#dist-done", "已保存").await;

    // The product page's Share button carries the distributor's own link.
    let product = crate::browser::milk(&app).await;
    sharer
        .goto(&format!("{}/p/{product}", app.url))
        .await
        .unwrap();
    let link: String = on_element(
        &sharer,
        "#share",
        "read the share link of",
        |el| async move { el.attr("data-share-url").await },
    )
    .await
    .expect("a logged-in member's share link");
    assert!(
        link.starts_with(&format!("/p/{product}?sku=")) && link.contains("&s="),
        "{link}"
    );

    // Another shopper opens it before logging in, logs in, buys and pays.
    let buyer = browser(&driver, true).await;
    buyer.goto(&format!("{}{link}", app.url)).await.unwrap();
    text_of(&buyer, "#share").await;
    shopper_login(&buyer, &app, "13700170002", "/").await;
    buyer
        .goto(&format!("{}/p/{product}", app.url))
        .await
        .unwrap();
    click(&buyer, "form[action='/cart/add'] button").await;
    text_of(&buyer, ".notice.ok").await;
    buyer
        .goto(&format!("{}/checkout?mode=pickup&store=SH001", app.url))
        .await
        .unwrap();
    click(&buyer, "#checkout-form button.block").await;
    let path = wait_path(&buyer, "/orders/").await;
    let order: Uuid = path.trim_start_matches("/orders/").parse().unwrap();
    crate::bus::pay(&app, &order.to_string()).await;
    let mut commission = 0;
    for _ in 0..100 {
        let mut tx = app.state.store.begin().await.unwrap();
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(frozen_fen), 0) AS BIGINT) FROM distribution_ledger WHERE order_id = $1 AND kind = 'commission'",
        )
        .bind(order.to_string())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        commission = sqlx::Row::try_get::<i64, _>(&row, 0).unwrap();
        if commission > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(commission > 0, "the order earned commission");
    let money = format!("{}.{:02}", commission / 100, commission % 100);
    sharer
        .goto(&format!("{}/distributor", app.url))
        .await
        .unwrap();
    wait_for_text(&sharer, "#frozen", &money).await;
    wait_for_text(&sharer, "#available", "0.00").await;

    // Collected; the window passes; the sweeper releases it.
    for to in [OrderStatus::ReadyForPickup, OrderStatus::PickedUp] {
        retail_server::app::orders::change_status(&app.state.store, order, to, "mgr.sh001", "test")
            .await
            .unwrap();
    }
    window_passed(&app, order).await;
    distribution::release_due(&app.state).await.unwrap();
    sharer
        .goto(&format!("{}/distributor", app.url))
        .await
        .unwrap();
    wait_for_text(&sharer, "#available", &money).await;

    // Withdrawn, approved and paid.
    type_into(&sharer, "#withdraw-amount", &money).await;
    click(&sharer, "#withdraw").await;
    wait_for_text(&sharer, "#withdraw-ok", "提现申请已提交").await;
    wait_for_text(&sharer, "#withdrawing", &money).await;
    desk.goto(&format!("{}/console/distribution", app.url))
        .await
        .unwrap();
    click(&desk, "#withdrawals button.approve-withdrawal").await;
    wait_for_text(&desk, "#dist-done", "已保存").await;
    type_into(&desk, "#withdrawals input.reference", "BANK-20261205").await;
    click(&desk, "#withdrawals button.mark-paid").await;
    wait_for_text(&desk, "#withdrawals td.status", "BANK-20261205").await;
    sharer
        .goto(&format!("{}/distributor", app.url))
        .await
        .unwrap();
    wait_for_text(&sharer, "#withdrawn", &money).await;
    let b = balances(
        &app,
        storage::distribution::withdrawals(&app.state.store, None, None)
            .await
            .unwrap()[0]
            .distributor_id,
    )
    .await;
    assert_eq!(
        (
            b.frozen_fen,
            b.available_fen,
            b.withdrawing_fen,
            b.withdrawn_fen
        ),
        (0, 0, 0, commission)
    );
    sharer.close().await.unwrap();
    buyer.close().await.unwrap();
    desk.close().await.unwrap();
}

/// A commission decision lost right after a payment (a crash between the payment's commit and
/// the decision) is caught up by the sweeper once: the same frozen commission, the same share
/// attribution, nothing doubled however often it runs.
async fn a_lost_commission_decision_is_caught_up_once(app: TestApp) {
    let admin = app.login("admin").await;
    let (a, _) = crate::pricing::two_priced_skus(&app, &admin).await;
    let (dist, buyer) = bound_buyer(&app, ("13900170061", "13900170062"), a).await;
    let (order, amounts) = paid_order(&app, buyer, &[a], &[]).await;
    let expected: i64 = amounts.iter().map(|f| f * 500 / 10_000).sum();
    assert!(expected > 0);
    assert_eq!(balances(&app, dist).await.frozen_fen, expected);
    // As if the decision had never been made, the order paid over a minute ago.
    let id = order.to_string();
    exec(
        &app,
        "DELETE FROM distribution_ledger WHERE order_id = $1",
        &id,
    )
    .await;
    exec(
        &app,
        "DELETE FROM distribution_orders WHERE order_id = $1",
        &id,
    )
    .await;
    exec(&app, "DELETE FROM share_orders WHERE order_id = $1", &id).await;
    exec(
        &app,
        "UPDATE distributor_accounts SET frozen_fen = 0 WHERE member_id = $1",
        &dist.to_string(),
    )
    .await;
    exec(
        &app,
        "UPDATE orders SET updated_at = updated_at - 120000 WHERE id = $1",
        &id,
    )
    .await;
    assert_eq!(balances(&app, dist).await.frozen_fen, 0);

    distribution::catch_up(&app.state).await.unwrap();
    assert_eq!(distribution::catch_up(&app.state).await.unwrap(), 0, "once");
    assert_eq!(balances(&app, dist).await.frozen_fen, expected);
    for sql in [
        "SELECT COUNT(*) FROM distribution_orders WHERE order_id = $1",
        "SELECT COUNT(*) FROM share_orders WHERE order_id = $1",
    ] {
        assert_eq!(count(&app, sql, &id).await, 1, "{sql}");
    }
}
crate::both_backends!(
    a_lost_commission_decision_is_caught_up_once,
    a_lost_commission_decision_is_caught_up_once
);
