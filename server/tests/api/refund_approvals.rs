//! The refund approval queue (issue 14) through the API, on SQLite and PostgreSQL: refunds
//! above the approval threshold wait for a store manager of the order's store or head office,
//! who approves one (it is sent to the provider) or rejects it with a reason (closed, never
//! sent, its amount refundable again); both decisions are audited and idempotent, the opposite
//! decision afterwards is 409, and nobody else may decide (403). The console page that shows the
//! queue is tested in a real browser in `browser.rs` and over plain HTTP here.

use std::time::Duration;

use reqwest::StatusCode;
use retail_domain::money::Money;
use retail_server::app::refunds::{request_in_tx, RefundAsk};
use retail_server::storage::refunds::RefundSource;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

/// A pickup order of one unit at `store`, paid through the sandbox provider: (order id, its
/// sandbox payment id, amount in fen).
pub(crate) async fn paid_order(app: &TestApp, store: &str) -> (Uuid, Uuid, i64) {
    let admin = app.login("admin").await;
    let (_, stock) = app
        .get(
            &format!("/api/v1/stock?location_id={store}&limit=50"),
            Some(&admin),
        )
        .await;
    let sku = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > 5)
        .unwrap_or_else(|| panic!("a stocked SKU at {store}"))["sku_id"]
        .clone();
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": store,
                   "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let order_id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    let (payment, fen) = pay_at_sandbox(app, order_id).await;
    (order_id, payment, fen)
}

/// Pays an order through the sandbox provider, as a shopper would (`bus::pay`): (the succeeded
/// payment's id, its amount in fen).
pub(crate) async fn pay_at_sandbox(app: &TestApp, order_id: Uuid) -> (Uuid, i64) {
    crate::bus::pay(app, &order_id.to_string()).await;
    let mut tx = app.state.store.begin().await.unwrap();
    let paid = retail_server::storage::payments::succeeded_of_order(&mut tx, order_id)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(paid.len(), 1, "{paid:?}");
    let (id, method, fen) = &paid[0];
    assert_eq!(method, "sandbox_qr");
    (id.parse().unwrap(), *fen)
}

/// Asks for a refund of `fen` of an order's sandbox payment that nobody approved, above the
/// threshold (a return recorded without a manager): it waits for approval. Answers its id.
pub(crate) async fn refund_awaiting_approval(app: &TestApp, order: Uuid, fen: i64) -> Uuid {
    let mut tx = app.state.store.begin().await.unwrap();
    let ids = request_in_tx(
        &mut tx,
        Money::from_fen(fen - 1),
        &RefundAsk {
            order_id: order,
            payment_id: None,
            method: "sandbox_qr",
            amount_fen: fen,
            reason: "退货退款 return",
            source: RefundSource::Return,
            source_id: None,
            requested_by: "staff:cashier1.sh001",
            approved_by: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), 1);
    ids[0]
}

/// The refund as the order's refunds list shows it.
async fn refund_of(app: &TestApp, token: &str, order: Uuid, id: Uuid) -> Value {
    let (status, list) = app
        .get(&format!("/api/v1/orders/{order}/refunds"), Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.to_string())
        .unwrap_or_else(|| panic!("refund {id} in {list}"))
        .clone()
}

async fn queue(app: &TestApp, token: &str) -> (StatusCode, Vec<String>) {
    let (status, body) = app
        .get("/api/v1/refunds/awaiting-approval", Some(token))
        .await;
    let ids = body["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (status, ids)
}

async fn audit_count(app: &TestApp, action: &str, refund: Uuid) -> usize {
    let mut tx = app.state.store.begin().await.unwrap();
    let rows = sqlx::query("SELECT detail FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    rows.iter()
        .filter(|row| sqlx::Row::get::<String, _>(*row, "detail").contains(&refund.to_string()))
        .count()
}

async fn approvals_decided_once_by_the_right_people(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let other_manager = app.login("mgr.sh002").await;
    let cashier = app.login("cashier1.sh001").await;
    let (order_a, _, fen_a) = paid_order(&app, "SH001").await;
    let (order_b, payment_b, fen_b) = paid_order(&app, "SH001").await;
    let (order_c, _, fen_c) = paid_order(&app, "SH002").await;
    let a = refund_awaiting_approval(&app, order_a, fen_a).await;
    let b = refund_awaiting_approval(&app, order_b, fen_b).await;
    let c = refund_awaiting_approval(&app, order_c, fen_c).await;
    assert_eq!(
        refund_of(&app, &admin, order_a, a).await["state"],
        "awaiting_approval"
    );

    // Who sees what: head office every store's, a manager their store's, a cashier nothing.
    let (status, all) = queue(&app, &admin).await;
    assert_eq!(status, StatusCode::OK);
    for id in [a, b, c] {
        assert!(all.contains(&id.to_string()), "{id} in {all:?}");
    }
    let (_, own) = queue(&app, &manager).await;
    assert!(own.contains(&a.to_string()) && own.contains(&b.to_string()));
    assert!(!own.contains(&c.to_string()), "another store's refund");
    assert_eq!(queue(&app, &cashier).await.0, StatusCode::FORBIDDEN);

    // Nobody else decides, and what they try changes nothing.
    let reason = json!({"reason": "商品未退回"});
    for (token, id) in [(&cashier, a), (&other_manager, a), (&manager, c)] {
        let (status, body) = app
            .post(
                &format!("/api/v1/refunds/{id}/approve"),
                Some(token),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = app
            .post(
                &format!("/api/v1/refunds/{id}/reject"),
                Some(token),
                reason.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let unknown = Uuid::now_v7();
    let (status, _) = app
        .post(
            &format!("/api/v1/refunds/{unknown}/approve"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A rejection needs a reason, on one line and not too long.
    for bad in [
        json!({"reason": "  "}),
        json!({"reason": "a\nb"}),
        json!({"reason": "x".repeat(201)}),
    ] {
        let (status, body) = app
            .post(&format!("/api/v1/refunds/{b}/reject"), Some(&manager), bad)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["fields"]["reason"].is_string(), "{body}");
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/refunds/{b}/reject"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    for (order, id) in [(order_a, a), (order_b, b), (order_c, c)] {
        let refund = refund_of(&app, &admin, order, id).await;
        assert_eq!(refund["state"], "awaiting_approval", "{refund}");
        assert!(refund["approved_by"].is_null() && refund["rejected_by"].is_null());
    }

    // The manager approves A: it is sent (the sandbox pays it back at once). Again: the same.
    let (status, approved) = app
        .post(
            &format!("/api/v1/refunds/{a}/approve"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["approved_by"], "staff:mgr.sh001");
    assert!(approved["rejected_by"].is_null());
    retail_testkit::wait_until("refund A paid back", Duration::from_secs(30), || async {
        refund_of(&app, &admin, order_a, a).await["state"] == "success"
    })
    .await;
    let (status, again) = app
        .post(
            &format!("/api/v1/refunds/{a}/approve"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["approved_by"], "staff:mgr.sh001");
    assert_eq!(again["state"], "success");
    let (status, body) = app
        .post(
            &format!("/api/v1/refunds/{a}/reject"),
            Some(&manager),
            reason.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_awaiting_approval");

    // The manager rejects B: closed at once, never sent, its amount refundable again.
    let (status, rejected) = app
        .post(
            &format!("/api/v1/refunds/{b}/reject"),
            Some(&manager),
            reason.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["state"], "closed");
    assert_eq!(rejected["rejected_by"], "staff:mgr.sh001");
    assert_eq!(rejected["rejected_reason"], "商品未退回");
    assert!(rejected["approved_by"].is_null());
    let (status, again) = app
        .post(
            &format!("/api/v1/refunds/{b}/reject"),
            Some(&admin),
            json!({"reason": "another reason"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again["rejected_reason"], "商品未退回",
        "the first decision stands"
    );
    assert_eq!(again["rejected_by"], "staff:mgr.sh001");
    let (status, body) = app
        .post(
            &format!("/api/v1/refunds/{b}/approve"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_awaiting_approval");
    let payment = retail_server::storage::payments::get(&app.state.store, payment_b)
        .await
        .unwrap();
    assert_eq!(
        (payment.status.as_str(), payment.refunded.fen()),
        ("succeeded", 0)
    );
    // The sweeps pass it by: nothing is ever sent for it.
    retail_server::app::refunds::dispatch_due(&app.state)
        .await
        .unwrap();
    let stored = refund_of(&app, &admin, order_b, b).await;
    assert_eq!(stored["state"], "closed");
    assert!(stored["provider_refund_id"].is_null(), "{stored}");
    assert_eq!(stored["attempts"], 0);
    // Refundable again: a new refund of the whole payment is accepted.
    let b2 = refund_awaiting_approval(&app, order_b, fen_b).await;
    assert_ne!(b2, b);

    // Head office decides for any store.
    let (status, body) = app
        .post(
            &format!("/api/v1/refunds/{c}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["approved_by"], "staff:admin");

    // Each decision audited once; the queue holds what is left.
    assert_eq!(audit_count(&app, "refund.approve", a).await, 1);
    assert_eq!(audit_count(&app, "refund.reject", b).await, 1);
    assert_eq!(audit_count(&app, "refund.approve", b).await, 0);
    assert_eq!(audit_count(&app, "refund.approve", c).await, 1);
    let (_, left) = queue(&app, &admin).await;
    assert_eq!(left, vec![b2.to_string()]);
    let (_, left) = queue(&app, &other_manager).await;
    assert!(left.is_empty(), "{left:?}");
}
crate::both_backends!(
    approvals_decided_once_by_the_right_people,
    approvals_decided_once_by_the_right_people
);

/// The console page over plain HTTP: the queue with its count on the tab; the buttons for a
/// manager, none for a cashier (whose posts are refused); a rejection without a reason is sent
/// back and changes nothing.
async fn approval_page_over_http(app: TestApp) {
    let (order_a, _, fen_a) = paid_order(&app, "SH001").await;
    let (order_b, _, fen_b) = paid_order(&app, "SH001").await;
    let a = refund_awaiting_approval(&app, order_a, fen_a).await;
    let b = refund_awaiting_approval(&app, order_b, fen_b).await;

    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    let page = manager.get("/console/payments/approvals").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("id=\"approvals-waiting\">2<"),
        "the tab counts 2"
    );
    for id in [a, b] {
        let row = crate::web::between(&page.body, &format!("id=\"refund-{id}\""), "</tr>");
        assert!(row.contains("退货退款 return"), "{row}");
        assert!(row.contains("staff:cashier1.sh001"), "{row}");
        assert!(row.contains("/approve\""), "an approve button: {row}");
        assert!(row.contains("/reject\""), "a reject button: {row}");
    }
    // The store manager's menu leads to it.
    assert!(page.body.contains("href=\"/console/payments/approvals\""));

    let mut cashier = crate::web::console(&app, "cashier1.sh001").await;
    let page = cashier.get("/console/payments/approvals").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("id=\"refund-{a}\"")));
    assert!(
        !page.body.contains("/approve\""),
        "no buttons for a cashier"
    );
    assert!(page.body.contains("approval-readonly"));
    let page = cashier
        .post_csrf(&format!("/console/payments/approvals/{a}/approve"), &[])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // Reject without a reason: sent back with the error, nothing changes.
    let page = manager
        .post_csrf(
            &format!("/console/payments/approvals/{b}/reject"),
            &[("preset", ""), ("note", " ")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/console/payments/approvals?error=reason")
    );
    let admin = app.login("admin").await;
    assert_eq!(
        refund_of(&app, &admin, order_b, b).await["state"],
        "awaiting_approval"
    );
    // A chosen reason with a note.
    let page = manager
        .post_csrf(
            &format!("/console/payments/approvals/{b}/reject"),
            &[("preset", "goods_not_back"), ("note", "顾客未带回商品")],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/console/payments/approvals?done=rejected")
    );
    let rejected = refund_of(&app, &admin, order_b, b).await;
    assert_eq!(rejected["state"], "closed");
    assert_eq!(
        rejected["rejected_reason"],
        "商品未退回 goods not returned: 顾客未带回商品"
    );
    let page = manager
        .post_csrf(&format!("/console/payments/approvals/{a}/approve"), &[])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/console/payments/approvals?done=approved")
    );
    // Deciding again on the page: told it was decided already.
    let page = manager
        .post_csrf(&format!("/console/payments/approvals/{b}/approve"), &[])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/console/payments/approvals?error=decided")
    );
    let page = manager.get("/console/payments/approvals").await;
    assert!(page.body.contains("id=\"no-approvals\""));
    assert!(
        !page.body.contains("approvals-waiting"),
        "no count when none wait"
    );
}
crate::both_backends!(approval_page_over_http, approval_page_over_http);
