//! Payments and coupons at a lane: QR payment intents asked for by a lane (idempotent by id),
//! paid through the sandbox provider's signed notification, cancelled, and referenced by the
//! sale pushed later (counted once, refused when unpaid, foreign or taken); a member's coupons
//! listed for a lane and used once by the sale that chose them.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::sales::{
    get_sale, member, money, new_id, push, register_lane, sale, sku_ids, with_member_code,
};
use crate::support::TestApp;

async fn intent(
    app: &TestApp,
    lane: &str,
    id: &str,
    sale_id: &str,
    fen: i64,
) -> (StatusCode, Value) {
    app.post(
        "/api/v1/pos/payments",
        Some(lane),
        json!({"id": id, "sale_id": sale_id, "amount": money(fen)}),
    )
    .await
}

/// The shopper presses 确认支付 on the sandbox provider's page.
async fn shopper_pays(app: &TestApp, payment: &str) -> String {
    let resp = app
        .client
        .post(format!("{}/sandbox/pay/{payment}", app.url))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.text().await.unwrap()
}

/// A sale of one line of 12.34 × 2 paid `qr_fen` by the QR payment and the rest in cash.
fn qr_sale(sku: &str, sale_id: &str, qr: &str, qr_fen: i64, provider_ref: Option<&str>) -> Value {
    crate::lane_code_pay::provider_sale(sku, sale_id, "sandbox_qr", qr, qr_fen, provider_ref)
}

/// A QR payment at the lane: the intent is idempotent by id, paid once through the provider's
/// signed notification, and taken by exactly one sale; the push of that sale is idempotent.
async fn qr_payment_is_paid_and_taken_once(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let (_, other_store_lane) = register_lane(&app, &admin, "SH002", "Lane 1").await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    let (sale_id, pay_id) = (new_id(), new_id());

    // Bad requests change nothing.
    let (status, body) = intent(&app, &lane, &pay_id, &sale_id, 0).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = intent(&app, &lane, &Uuid::new_v4().to_string(), &sale_id, 100).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = intent(&app, &admin, &pay_id, &sale_id, 1_000).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "staff are not lanes");

    // The intent, and its retry.
    let (status, first) = intent(&app, &lane, &pay_id, &sale_id, 1_000).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["amount"], "10.00");
    assert_eq!(
        first["pay_url"],
        json!(format!("{}/sandbox/pay/{pay_id}", app.url))
    );
    let (status, again) = intent(&app, &lane, &pay_id, &sale_id, 1_000).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    let (status, body) = intent(&app, &lane, &pay_id, &sale_id, 1_100).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "id_in_use");
    let path = format!("/api/v1/pos/payments/{pay_id}");
    let (status, _) = app.get(&path, Some(&other_store_lane)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another store's lane");

    // The provider's page shows it; the shopper pays; the provider notifies, signed.
    let (status, _) = app.get(&format!("/sandbox/pay/{pay_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let page = shopper_pays(&app, &pay_id).await;
    assert!(page.contains("支付成功"), "{page}");
    let (status, paid) = app.get(&path, Some(&lane)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paid["status"], "succeeded");
    let provider_ref = paid["provider_ref"].as_str().unwrap().to_owned();
    assert!(paid["order_id"].is_null());
    // Paying again is refused by the server (the page says so); cancelling is too late.
    let page = shopper_pays(&app, &pay_id).await;
    assert!(page.contains("支付未完成"), "{page}");
    let (status, body) = app
        .post(&format!("{path}/cancel"), Some(&lane), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_paid");

    // A sale that names the payment for another amount or reference is refused, and changes
    // nothing: the payment stays free for its sale.
    let wrong_amount = qr_sale(&sku, &sale_id, &pay_id, 900, None);
    let wrong_ref = qr_sale(&sku, &sale_id, &pay_id, 1_000, Some("FORGED"));
    let results = push(&app, &lane, &[wrong_amount]).await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert!(
        results[0]["error"].as_str().unwrap().contains("paid 10.00"),
        "{}",
        results[0]
    );
    let results = push(&app, &lane, &[wrong_ref]).await;
    assert_eq!(results[0]["outcome"], "rejected", "{}", results[0]);

    // The sale takes it (split with cash), once.
    let good = qr_sale(&sku, &sale_id, &pay_id, 1_000, Some(&provider_ref));
    let stored = crate::lane_code_pay::taken_once(&app, &admin, &lane, good, &path).await;
    assert_eq!(stored["total"], "24.68");

    // Another sale naming the same payment is refused (it was asked for another sale, and
    // its id is taken); so is a new intent for the sale already on the server.
    let other = qr_sale(&sku, &new_id(), &pay_id, 1_000, Some(&provider_ref));
    let results = push(&app, &lane, std::slice::from_ref(&other)).await;
    assert_eq!(results[0]["outcome"], "rejected", "{}", results[0]);
    let (status, _) = get_sale(&app, &admin, other["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = intent(&app, &lane, &new_id(), &sale_id, 100).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "sale_completed");
}
crate::both_backends!(
    qr_payment_is_paid_and_taken_once,
    qr_payment_is_paid_and_taken_once
);

/// A sale cannot name a QR payment the server does not know, or one not paid; a cancelled
/// intent is not paid afterwards.
async fn unpaid_or_unknown_qr_payments_are_refused(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);

    let unknown = qr_sale(&sku, &new_id(), &new_id(), 1_000, Some("X1"));
    let results = push(&app, &lane, &[unknown]).await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert!(results[0]["error"]
        .as_str()
        .unwrap()
        .contains("unknown to the server"));

    let (sale_id, pay_id) = (new_id(), new_id());
    let (status, _) = intent(&app, &lane, &pay_id, &sale_id, 1_000).await;
    assert_eq!(status, StatusCode::OK);
    let unpaid = qr_sale(&sku, &sale_id, &pay_id, 1_000, None);
    let results = push(&app, &lane, std::slice::from_ref(&unpaid)).await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert!(results[0]["error"]
        .as_str()
        .unwrap()
        .contains("was not paid (it is pending)"));

    let path = format!("/api/v1/pos/payments/{pay_id}");
    let (status, cancelled) = app
        .post(&format!("{path}/cancel"), Some(&lane), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, again) = app
        .post(&format!("{path}/cancel"), Some(&lane), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, cancelled);
    // The shopper scanned the old QR anyway: the provider's notification is refused.
    let page = shopper_pays(&app, &pay_id).await;
    assert!(page.contains("支付未完成"), "{page}");
    let (_, after) = app.get(&path, Some(&lane)).await;
    assert_eq!(after["status"], "cancelled");
    let results = push(&app, &lane, &[unpaid]).await;
    assert_eq!(results[0]["outcome"], "rejected");
    let (status, _) = app
        .get(
            "/api/v1/pos/payments/00000000-0000-7000-8000-000000000000",
            Some(&lane),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
crate::both_backends!(
    unpaid_or_unknown_qr_payments_are_refused,
    unpaid_or_unknown_qr_payments_are_refused
);

/// A no-threshold coupon template (¥5 off) and one coupon of it issued to `member`.
async fn issue_five_off(app: &TestApp, admin: &str, member: &str) -> String {
    let template = new_id();
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    let until = chrono::Utc::now() + chrono::Duration::days(7);
    let (status, body) = app
        .post(
            "/api/v1/coupon-templates",
            Some(admin),
            json!({
                "id": template,
                "terms": { "name_zh": "无门槛5元券", "name_en": "¥5 off",
                    "rule": { "kind": "no_threshold", "amount": "5.00" },
                    "stacks_with_promotions": true },
                "issue_on": "staff", "valid_from": from, "valid_until": until,
                "per_member_limit": 5
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::pricing::issue_coupon(
        app,
        admin,
        template.parse().unwrap(),
        member.parse().unwrap(),
    )
    .await
    .to_string()
}

/// A member's sale of 24.68 with ¥5 off by `coupons`, paid in cash.
fn coupon_sale(sku: &str, member: &str, coupons: &[&str]) -> Value {
    let mut s = sale("SH001", Some(member), &[(sku, 2, 1_234)], &[]);
    s["lines"][0]["discount"] = json!("5.00");
    s["lines"][0]["amount"] = json!("19.68");
    s["discount"] = json!("5.00");
    s["total"] = json!("19.68");
    s["payments"][0]["amount"] = json!("19.68");
    s["coupons"] = json!(coupons);
    s
}

/// A lane lists a member's usable coupons; the sale that chose one uses it exactly once; a
/// second sale with the same coupon, or with another member's, is refused and not stored.
async fn coupons_are_used_once_by_lane_sales(app: TestApp) {
    let admin = app.login("admin").await;
    let cashier = app.login("cashier1.sh001").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    let (member_id, _, _) = member(&app, &cashier, "13800138001").await;
    let (other_member, _, _) = member(&app, &cashier, "13800138002").await;
    let coupon = issue_five_off(&app, &admin, &member_id).await;
    let foreign = issue_five_off(&app, &admin, &other_member).await;

    let path = format!("/api/v1/pos/members/{member_id}/coupons");
    let (status, listed) = app.get(&path, Some(&lane)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&coupon.as_str()), "{listed}");
    assert!(!ids.contains(&foreign.as_str()));
    assert_eq!(listed[0]["owner"], json!(member_id));
    let (status, _) = app.get(&path, Some(&cashier)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "for lanes only");

    // Without the member code the member showed, a lane cannot spend their coupon.
    let unproven = coupon_sale(&sku, &member_id, &[&coupon]);
    let results = push(&app, &lane, std::slice::from_ref(&unproven)).await;
    assert_eq!(results[0]["outcome"], "rejected", "{}", results[0]);
    assert!(results[0]["error"]
        .as_str()
        .unwrap()
        .contains("member code"));
    let first = with_member_code(&app, coupon_sale(&sku, &member_id, &[&coupon]));
    let results = push(&app, &lane, std::slice::from_ref(&first)).await;
    assert_eq!(results[0]["outcome"], "applied", "{}", results[0]);
    let results = push(&app, &lane, std::slice::from_ref(&first)).await;
    assert_eq!(results[0]["outcome"], "duplicate");
    let (_, mine) = app
        .get(
            &format!("/api/v1/members/{member_id}/coupons"),
            Some(&cashier),
        )
        .await;
    let used = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(coupon))
        .unwrap();
    assert_eq!(used["status"], "used");
    assert_eq!(used["order_id"], first["id"]);
    let (_, listed) = app.get(&path, Some(&lane)).await;
    assert!(
        !listed.to_string().contains(&coupon),
        "a used coupon is not offered again"
    );

    // Used again by another sale: refused, not stored, and the coupon stays with the first.
    let second = with_member_code(&app, coupon_sale(&sku, &member_id, &[&coupon]));
    let results = push(&app, &lane, std::slice::from_ref(&second)).await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap()
            .contains("used already"),
        "{}",
        results[0]
    );
    let (status, _) = get_sale(&app, &admin, second["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another member's coupon.
    let stolen = with_member_code(&app, coupon_sale(&sku, &member_id, &[&foreign]));
    let results = push(&app, &lane, &[stolen]).await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert!(results[0]["error"]
        .as_str()
        .unwrap()
        .contains("another member"));
    let (_, theirs) = app
        .get(
            &format!("/api/v1/members/{other_member}/coupons?available=true"),
            Some(&cashier),
        )
        .await;
    assert!(
        theirs.to_string().contains(&foreign),
        "still theirs, unused"
    );
}
crate::both_backends!(
    coupons_are_used_once_by_lane_sales,
    coupons_are_used_once_by_lane_sales
);
