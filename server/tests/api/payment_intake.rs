//! The payment intake (`app::payment_intake`): paid notifications applied in group commits, on
//! SQLite and PostgreSQL. Many notifications at once — genuine ones, duplicates, one whose
//! amount differs, one for a cancelled order — are each answered what it would be answered on
//! its own and applied once; inside one batch a notification that fails is undone alone (its
//! savepoint) and the others commit.

use std::collections::HashMap;

use reqwest::StatusCode;
use retail_payments::PaidTrade;
use retail_server::app::payment_intake::{apply_batch, apply_together};
use retail_server::app::payment_providers::Provider;
use retail_server::app::payments::{AfterCommit, NoticeApplied, PaidNotice, Taken};
use retail_server::storage::Dialect;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::provider_pay::{pending_order, start_payment, stocked_sku};
use crate::support::TestApp;

/// A pending pickup order with a sandbox payment started: (order id, order access token,
/// payment id, amount).
async fn order_with_payment(app: &TestApp) -> (String, String, String, String) {
    let (order_id, total, access) = pending_order(app).await;
    let payment_id = Uuid::now_v7();
    let (status, intent) = start_payment(app, &order_id, payment_id, "sandbox").await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    (order_id, access, payment_id.to_string(), total)
}

/// The shopper cancels the order of `order_with_payment`'s answer.
async fn cancel(app: &TestApp, (order_id, access, _, _): &(String, String, String, String)) {
    let response = app
        .client
        .post(format!("{}/api/v1/orders/{order_id}/cancel", app.url))
        .header("x-order-token", access)
        .json(&json!({"reason": "changed my mind"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A signed sandbox notification, ready to send: (timestamp, signature, body).
fn signed(app: &TestApp, notify_id: &str, payment_id: &str, amount: &str) -> (i64, String, String) {
    let now = chrono::Utc::now().timestamp();
    let body = json!({"notify_id": notify_id, "payment_id": payment_id, "provider_ref": format!("T-{payment_id}"),
        "amount": amount, "status": "succeeded"})
    .to_string();
    let signature = app
        .state
        .keys
        .payment_signature(now, body.as_bytes())
        .expect("the demo server has the sandbox provider");
    (now, signature, body)
}

/// Posts a signed notification to `url` (the server's base); answers the status and the body.
async fn send(
    client: &reqwest::Client,
    url: &str,
    (timestamp, signature, body): (i64, String, String),
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{url}/api/v1/payments/notify"))
        .header("content-type", "application/json")
        .header("x-pay-timestamp", timestamp.to_string())
        .header("x-pay-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Posts a signed sandbox notification; answers the status and the body.
async fn notify(
    app: &TestApp,
    notify_id: &str,
    payment_id: &str,
    amount: &str,
) -> (StatusCode, Value) {
    send(
        &app.client,
        &app.url,
        signed(app, notify_id, payment_id, amount),
    )
    .await
}

/// The order as head office sees it: (status, how many times it moved to paid).
async fn order_state(app: &TestApp, order_id: &str) -> (String, usize) {
    let token = app.login("admin").await;
    let (_, order) = app
        .get(&format!("/api/v1/orders/{order_id}"), Some(&token))
        .await;
    let paid = order["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "paid")
        .count();
    (order["status"].as_str().unwrap().to_owned(), paid)
}

/// The order is paid, and moved to paid once.
async fn assert_paid_once(app: &TestApp, order_id: &str) {
    assert_eq!(
        order_state(app, order_id).await,
        ("paid".to_owned(), 1),
        "{order_id}"
    );
}

async fn alerts_of(app: &TestApp, payment_id: &str) -> Vec<String> {
    retail_server::storage::payment_review::alerts(&app.state.store, false, 0, 500)
        .await
        .unwrap()
        .0
        .into_iter()
        .filter(|a| a.payment_id.as_deref() == Some(payment_id))
        .map(|a| a.kind)
        .collect()
}

/// Many notifications at once: twelve orders each notified three times (the genuine
/// notification, the same one again, and a second notification id for the same payment), one
/// order notified with the wrong amount and one cancelled before its money arrives. Each payment
/// is applied once (one of its notifications answered `applied`, the others `duplicate`), the
/// wrong amount is `alerted` and applies nothing, the cancelled order's money is a
/// `late_payment` (refunded, alerted), and every order moved to paid at most once.
async fn concurrent_notifications_are_each_answered_once(app: TestApp) {
    let mut genuine = Vec::new();
    for _ in 0..12 {
        genuine.push(order_with_payment(&app).await);
    }
    let mismatch = order_with_payment(&app).await;
    let cancelled = order_with_payment(&app).await;
    cancel(&app, &cancelled).await;

    // (payment id, notify id, amount), all sent at once.
    let mut sends: Vec<(String, String, String)> = Vec::new();
    for (_, _, payment, amount) in &genuine {
        sends.push((payment.clone(), format!("n-{payment}"), amount.clone()));
        sends.push((payment.clone(), format!("n-{payment}"), amount.clone()));
        sends.push((payment.clone(), format!("again-{payment}"), amount.clone()));
    }
    sends.push((
        mismatch.2.clone(),
        format!("n-{}", mismatch.2),
        "0.01".into(),
    ));
    sends.push((
        cancelled.2.clone(),
        format!("n-{}", cancelled.2),
        cancelled.3.clone(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for (payment, notify_id, amount) in sends {
        let request = signed(&app, &notify_id, &payment, &amount);
        let (client, url) = (app.client.clone(), app.url.clone());
        tasks.spawn(async move {
            let (status, body) = send(&client, &url, request).await;
            (payment, status, body)
        });
    }
    let mut answers: HashMap<String, Vec<String>> = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let (payment, status, body) = done.unwrap();
        assert_eq!(status, StatusCode::OK, "{payment}: {body}");
        assert_eq!(body["ok"], true, "{body}");
        answers
            .entry(payment)
            .or_default()
            .push(body["taken"].as_str().unwrap().to_owned());
    }

    for (order_id, _, payment, _) in &genuine {
        let mut taken = answers.remove(payment).unwrap();
        taken.sort();
        assert_eq!(
            taken,
            ["applied", "duplicate", "duplicate"],
            "payment {payment}"
        );
        assert_eq!(order_state(&app, order_id).await, ("paid".to_owned(), 1));
        assert!(alerts_of(&app, payment).await.is_empty());
    }
    assert_eq!(answers.remove(&mismatch.2).unwrap(), ["alerted"]);
    assert_eq!(
        order_state(&app, &mismatch.0).await,
        ("pending_payment".to_owned(), 0)
    );
    assert_eq!(alerts_of(&app, &mismatch.2).await, ["amount_mismatch"]);
    assert_eq!(answers.remove(&cancelled.2).unwrap(), ["late_payment"]);
    assert_eq!(
        order_state(&app, &cancelled.0).await,
        ("cancelled".to_owned(), 0)
    );
    assert_eq!(alerts_of(&app, &cancelled.2).await, ["late_payment"]);
    let refunds =
        retail_server::storage::refunds::of_order(&app.state.store, cancelled.0.parse().unwrap())
            .await
            .unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].amount.to_string(), cancelled.3);
    assert!(answers.is_empty(), "{answers:?}");

    // Sent again afterwards, every one of them is a duplicate.
    for (_, _, payment, amount) in &genuine {
        let (_, body) = notify(&app, &format!("n-{payment}"), payment, amount).await;
        assert_eq!(body["taken"], "duplicate", "{body}");
    }
}
crate::both_backends!(
    concurrent_notifications_are_each_answered_once,
    concurrent_notifications_are_each_answered_once,
    |s| s.orders.without_client_limits()
);

/// A notice for a sandbox payment.
fn notice(notify_id: &str, payment: &str, amount: &str) -> PaidNotice {
    let payment_id: Uuid = payment.parse().unwrap();
    PaidNotice {
        provider: Provider::Sandbox,
        notify_id: notify_id.to_owned(),
        payment_id,
        trade: PaidTrade {
            out_trade_no: payment.to_owned(),
            transaction_id: format!("T-{payment}"),
            amount_fen: retail_domain::money::Money::parse(amount).unwrap().fen(),
            currency: "CNY".into(),
            paid_at: None,
        },
    }
}

/// Runs `sql` statements on the app's database.
async fn execute(app: &TestApp, statements: &[&str]) {
    let mut tx = app.state.store.begin().await.unwrap();
    for sql in statements {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// One batch of four notices where the database refuses the second one's last write (its
/// order's move to paid, by a trigger): it alone is answered an error and leaves no trace (its
/// payment pending, its notification id not recorded, so the provider's retry applies it), while the first is applied, the third — the
/// first's replay in the same batch — is a duplicate, and the fourth (another payment, the
/// wrong amount) raises its alert. Then the refused one, sent again, is applied.
async fn a_failing_notification_spoils_no_other_in_its_batch(app: TestApp) {
    let first = order_with_payment(&app).await;
    let refused = order_with_payment(&app).await;
    let wrong = order_with_payment(&app).await;
    // The database refuses the refused order's move to paid: the last of its notice's writes,
    // after its notification id, payment and order were written.
    let refuse: Vec<String> = match app.state.store.dialect() {
        Dialect::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_paid BEFORE INSERT ON order_events \
                 WHEN NEW.order_id = '{}' AND NEW.to_status = 'paid' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            refused.0
        )],
        Dialect::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_paid() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN \
                 IF NEW.order_id = '{}' AND NEW.to_status = 'paid' THEN \
                 RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $f$",
                refused.0
            ),
            "CREATE TRIGGER refuse_paid BEFORE INSERT ON order_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_paid()"
                .to_owned(),
        ],
    };
    execute(&app, &refuse.iter().map(String::as_str).collect::<Vec<_>>()).await;

    let notices = [
        notice("good", &first.2, &first.3),
        notice("boom", &refused.2, &refused.3),
        notice("good", &first.2, &first.3),
        notice("wrong", &wrong.2, "0.01"),
    ];
    let batch: Vec<&PaidNotice> = notices.iter().collect();
    let results = apply_batch(&app.state.store, &app.state.settings, &batch).await;
    assert_eq!(results.len(), 4);
    let mut results = results.into_iter();
    match results.next().unwrap() {
        Ok(NoticeApplied::Order {
            taken: Taken::Applied { .. },
            then: AfterCommit::Paid { .. },
        }) => {}
        other => panic!("the first notice: {other:?}"),
    }
    assert!(results.next().unwrap().is_err(), "the refused notice");
    assert!(matches!(
        results.next().unwrap(),
        Ok(NoticeApplied::Order {
            taken: Taken::Duplicate,
            then: AfterCommit::Nothing
        })
    ));
    assert!(matches!(
        results.next().unwrap(),
        Ok(NoticeApplied::Order {
            taken: Taken::Alerted,
            then: AfterCommit::Nothing
        })
    ));
    assert_eq!(order_state(&app, &first.0).await, ("paid".to_owned(), 1));
    assert_eq!(
        order_state(&app, &refused.0).await,
        ("pending_payment".to_owned(), 0)
    );
    let payment =
        retail_server::storage::payments::get(&app.state.store, refused.2.parse().unwrap())
            .await
            .unwrap();
    assert_eq!(payment.status, "pending");
    assert_eq!(
        order_state(&app, &wrong.0).await,
        ("pending_payment".to_owned(), 0)
    );
    assert_eq!(alerts_of(&app, &wrong.2).await, ["amount_mismatch"]);

    // The refused notification sent again, the database willing: applied.
    let drop: &[&str] = match app.state.store.dialect() {
        Dialect::Sqlite => &["DROP TRIGGER refuse_paid"],
        Dialect::Postgres => &[
            "DROP TRIGGER refuse_paid ON order_events",
            "DROP FUNCTION refuse_paid()",
        ],
    };
    execute(&app, drop).await;
    let (status, body) = notify(&app, "boom", &refused.2, &refused.3).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["taken"], "applied", "{body}");
    assert_eq!(order_state(&app, &refused.0).await, ("paid".to_owned(), 1));
}
crate::both_backends!(
    a_failing_notification_spoils_no_other_in_its_batch,
    a_failing_notification_spoils_no_other_in_its_batch,
    |s| s.orders.without_client_limits()
);

/// A pending pickup order of a member (registered by head office with `phone`) with a sandbox
/// payment started: (member id, order id, payment id, amount).
async fn member_order_with_payment(
    app: &TestApp,
    admin: &str,
    member: Uuid,
) -> (String, String, String) {
    let code = crate::pricing::member_code(app, admin, member).await;
    let sku = stocked_sku(app, admin).await;
    let order_id = Uuid::now_v7();
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": order_id, "fulfilment": "pickup", "store": "SH001", "member_code": code,
                   "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let payment_id = Uuid::now_v7();
    let (status, intent) = start_payment(app, &order_id.to_string(), payment_id, "sandbox").await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    (
        order_id.to_string(),
        payment_id.to_string(),
        order["total"].as_str().unwrap().to_owned(),
    )
}

/// A member registered by head office.
async fn new_member(app: &TestApp, admin: &str, phone: &str) -> Uuid {
    let id = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(admin),
            json!({"id": id, "phone": phone, "name": "批量会员"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

/// The outcome a result of a batch answered, by name.
fn outcome(result: &retail_server::error::AppResult<NoticeApplied>) -> String {
    match result {
        Ok(NoticeApplied::Order { taken, then }) => format!(
            "{}{}",
            match taken {
                Taken::Applied { .. } => "applied",
                Taken::Duplicate => "duplicate",
                Taken::LatePayment => "late_payment",
                Taken::Alerted => "alerted",
            },
            match then {
                AfterCommit::Nothing => "",
                AfterCommit::Paid { .. } => "+paid",
                AfterCommit::Refunds { .. } => "+refunds",
            }
        ),
        Ok(NoticeApplied::NotAnOrderPayment) => "not_an_order_payment".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// One batch mixing the plain case (applied together: two orders of one member, one of
/// another, one without a member) with what is applied alone: a second payment of an order
/// paid in the same batch (a late payment, refunded), a payment of a cancelled order (late),
/// a payment unknown here. Each is answered what it would be answered on its own; the members
/// earn their points once per order (in their ledgers, on the orders, with their notices);
/// every order moves to paid at most once. The same batch again is all duplicates and changes
/// nothing.
async fn plain_notices_are_applied_together_by_the_same_rules(app: TestApp) {
    let admin = app.login("admin").await;
    let ann = new_member(&app, &admin, "13700137001").await;
    let bob = new_member(&app, &admin, "13700137002").await;
    let ann_1 = member_order_with_payment(&app, &admin, ann).await;
    let ann_2 = member_order_with_payment(&app, &admin, ann).await;
    let bob_1 = member_order_with_payment(&app, &admin, bob).await;
    let anonymous = order_with_payment(&app).await;
    // An order the shopper started two payments for, both paid.
    let twice = order_with_payment(&app).await;
    let second = Uuid::now_v7();
    let (status, intent) = start_payment(&app, &twice.0, second, "sandbox").await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    // An order cancelled before its money arrives.
    let cancelled = order_with_payment(&app).await;
    cancel(&app, &cancelled).await;
    let points = |member: Uuid| {
        let store = app.state.store.clone();
        async move {
            retail_server::storage::members::points_balance(&store, member)
                .await
                .unwrap()
        }
    };
    let (ann_before, bob_before) = (points(ann).await, points(bob).await);

    let unknown = Uuid::now_v7().to_string();
    let notices = [
        notice("n-ann-1", &ann_1.1, &ann_1.2),
        notice("n-twice-1", &twice.2, &twice.3),
        notice("n-ann-2", &ann_2.1, &ann_2.2),
        notice("n-cancelled", &cancelled.2, &cancelled.3),
        notice("n-bob-1", &bob_1.1, &bob_1.2),
        notice("n-twice-2", &second.to_string(), &twice.3),
        notice("n-anonymous", &anonymous.2, &anonymous.3),
        notice("n-unknown", &unknown, "1.00"),
    ];
    let batch: Vec<&PaidNotice> = notices.iter().collect();
    // The two payments of one order: whichever has the lower id pays it, the other is late.
    let (first_twice, late_twice) = if twice.2 < second.to_string() {
        ("applied+paid", "late_payment+refunds")
    } else {
        ("late_payment+refunds", "applied+paid")
    };
    let (together_twice, alone_twice) = if first_twice == "applied+paid" {
        (1, 5)
    } else {
        (5, 1)
    };

    // Which are applied together, and which are left to be applied alone (tried, then undone).
    let mut tx = app.state.store.begin().await.unwrap();
    let together = apply_together(&mut tx, &app.state.store, &app.state.settings, &batch)
        .await
        .unwrap();
    drop(tx);
    let mut done: Vec<usize> = together.done.iter().map(|(i, _)| *i).collect();
    done.sort();
    let mut expected = vec![0, 2, 4, 6, together_twice];
    expected.sort();
    assert_eq!(done, expected, "applied together");
    let mut alone = together.alone.clone();
    alone.sort();
    let mut expected = vec![3, 7, alone_twice];
    expected.sort();
    assert_eq!(alone, expected, "left alone");

    let results = apply_batch(&app.state.store, &app.state.settings, &batch).await;
    let outcomes: Vec<String> = results.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        [
            "applied+paid",
            first_twice,
            "applied+paid",
            "late_payment+refunds",
            "applied+paid",
            late_twice,
            "applied+paid",
            "not_an_order_payment",
        ]
    );
    for order in [&ann_1.0, &ann_2.0, &bob_1.0, &anonymous.0, &twice.0] {
        assert_paid_once(&app, order).await;
    }
    assert_eq!(order_state(&app, &cancelled.0).await.0, "cancelled");
    let mut earned: HashMap<Uuid, i64> = HashMap::new();
    for result in &results {
        if let Ok(NoticeApplied::Order {
            then: AfterCommit::Paid { head, .. },
            ..
        }) = result
        {
            assert_eq!(head.status.as_str(), "paid");
            if let Some(member) = head.member_id {
                assert!(head.points_earned > 0, "{head:?}");
                *earned.entry(member).or_default() += head.points_earned;
                let mut tx = app.state.store.begin().await.unwrap();
                let row = sqlx::query("SELECT points_earned FROM orders WHERE id = $1")
                    .bind(head.id.to_string())
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                let stored: i64 = sqlx::Row::get(&row, "points_earned");
                assert_eq!(stored, head.points_earned);
                let notices =
                    retail_server::storage::notices::recent(&app.state.store, member, None, 20)
                        .await
                        .unwrap();
                assert!(
                    notices.items.iter().any(|n| n.order_id == head.id),
                    "the member is told of {}",
                    head.order_no
                );
            }
        }
    }
    assert_eq!(points(ann).await, ann_before + earned[&ann]);
    assert_eq!(points(bob).await, bob_before + earned[&bob]);
    let late: Vec<String> = [alerts_of(&app, &cancelled.2).await, {
        let late_one = if first_twice == "applied+paid" {
            second.to_string()
        } else {
            twice.2.clone()
        };
        alerts_of(&app, &late_one).await
    }]
    .concat();
    assert_eq!(late, ["late_payment", "late_payment"]);

    // The same batch again: nothing new.
    let again = apply_batch(&app.state.store, &app.state.settings, &batch).await;
    let outcomes: Vec<String> = again.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        [
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate",
            "not_an_order_payment",
        ]
    );
    for order in [&ann_1.0, &ann_2.0, &bob_1.0, &anonymous.0, &twice.0] {
        assert_paid_once(&app, order).await;
    }
    assert_eq!(points(ann).await, ann_before + earned[&ann]);
    assert_eq!(points(bob).await, bob_before + earned[&bob]);
}
crate::both_backends!(
    plain_notices_are_applied_together_by_the_same_rules,
    plain_notices_are_applied_together_by_the_same_rules,
    |s| s.orders.without_client_limits()
);

/// The SQLite WAL starts again from its beginning after `restart_wal` (passive checkpoints
/// alone leave it growing under steady commits): the frames it holds after one more commit are
/// that commit's few, not everything since the store was opened. On a store of its own, with no
/// server and so no background job committing or reading in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_wal_starts_again() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("wal.db").display());
    let store = retail_server::storage::Store::connect(&url)
        .await
        .expect("sqlite store");
    let touch = || async {
        let mut tx = store.begin().await.unwrap();
        for sql in [
            "CREATE TABLE IF NOT EXISTS wal_probe (n BIGINT)",
            "INSERT INTO wal_probe (n) VALUES (1)",
        ] {
            sqlx::query(sql).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    };
    for _ in 0..20 {
        touch().await;
    }
    let before = store.checkpoint().await.unwrap();
    assert!(store.restart_wal().await.unwrap(), "nothing else reads");
    touch().await;
    let after = store.checkpoint().await.unwrap();
    store.close().await;
    assert!(
        after < 20 && after < before,
        "{before} frames before, {after} after"
    );
}
