//! Who works a lane: the roster a lane pulls to sign cashiers in offline, and returns that need a
//! store manager's PIN approval and give the money back through the tenders the sale was paid
//! with (issue 15, findings 11 and 21).

use reqwest::StatusCode;
use retail_testkit::server::{approved_return, DEMO_PIN};
use serde_json::{json, Value};

use crate::both_backends;
use crate::sales::{new_id, on_hand, push, register_lane, sale, sku_ids};
use crate::support::TestApp;

fn usernames(roster: &Value) -> Vec<&str> {
    roster["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["username"].as_str().unwrap())
        .collect()
}

/// A lane pulls its store's roster with its credential: the store's staff and head office's
/// administrators who have a PIN, each with an Argon2 hash and never a password; nobody of
/// another store; a cleared PIN or a disabled account drops off. Edge agents and staff
/// sessions do not get it.
async fn a_lane_pulls_its_stores_roster(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let (status, roster) = app.get("/api/v1/devices/me/roster", Some(&lane)).await;
    assert_eq!(status, StatusCode::OK, "{roster}");
    let names = usernames(&roster);
    assert_eq!(
        names,
        ["admin", "cashier1.sh001", "cashier2.sh001", "mgr.sh001"]
    );
    for person in roster["staff"].as_array().unwrap() {
        assert!(
            person["pin_hash"].as_str().unwrap().starts_with("$argon2"),
            "{person}"
        );
        assert!(person.get("password_hash").is_none());
    }
    let mgr = &roster["staff"][3];
    assert_eq!(mgr["role"], "store_manager");
    assert_eq!(roster["staff"][1]["role"], "cashier");

    // Clearing a PIN (or disabling the account) takes the person off the roster.
    let (status, staff) = app.get("/api/v1/staff", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{staff}");
    let cashier2 = staff
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["username"] == "cashier2.sh001")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .delete(&format!("/api/v1/staff/{cashier2}/pin"), Some(&admin))
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (_, roster) = app.get("/api/v1/devices/me/roster", Some(&lane)).await;
    assert_eq!(usernames(&roster), ["admin", "cashier1.sh001", "mgr.sh001"]);

    // Not for edge agents, staff sessions or anyone else.
    let (_, edge) = app
        .register_device("mgr.sh001", "SH001", "edge", "Edge SH001")
        .await;
    let (status, _) = app.get("/api/v1/devices/me/roster", Some(&edge)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/devices/me/roster", Some(&admin)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/devices/me/roster", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
both_backends!(
    a_lane_pulls_its_stores_roster,
    a_lane_pulls_its_stores_roster
);

/// A lane's return needs a store manager's approval with their lane PIN, checked by the server:
/// without it, with a cashier's PIN, another store's manager, or a wrong PIN, it is refused and
/// changes nothing; wrong PINs are limited per approver. A lane also names its signed-in cashier,
/// who must be on the store's roster. A cashier's own session needs the approval too.
async fn a_return_needs_a_managers_pin(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 1).await;
    let s = sale("SH001", None, &[(&skus[0], 2, 500)], &[]);
    assert_eq!(
        push(&app, &lane, std::slice::from_ref(&s)).await[0]["outcome"],
        "applied"
    );
    let stock = on_hand(&app, &admin, &skus[0]).await;
    let request = json!({"id": new_id(), "order_id": s["id"], "lines": [{"line_no": 1, "qty": 1}]});

    let refused = |body: Value, approval: Value| {
        let mut r = approved_return(request.clone(), "SH001");
        match approval {
            Value::Null => {
                r.as_object_mut().unwrap().remove("approval");
            }
            a => r["approval"] = a,
        }
        if body == json!("no cashier") {
            r.as_object_mut().unwrap().remove("cashier");
        } else if let Some(c) = body.as_str() {
            r["cashier"] = json!(c);
        }
        r
    };
    let cases = [
        (
            refused(Value::Null, Value::Null),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no approval",
        ),
        (
            refused(
                json!("no cashier"),
                json!({"username": "mgr.sh001", "pin": DEMO_PIN}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no cashier",
        ),
        (
            refused(
                json!("cashier1.sh002"),
                json!({"username": "mgr.sh001", "pin": DEMO_PIN}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "another store's cashier",
        ),
        (
            refused(
                Value::Null,
                json!({"username": "cashier2.sh001", "pin": DEMO_PIN}),
            ),
            StatusCode::FORBIDDEN,
            "a cashier approving",
        ),
        (
            refused(
                Value::Null,
                json!({"username": "mgr.sh002", "pin": DEMO_PIN}),
            ),
            StatusCode::FORBIDDEN,
            "another store's manager",
        ),
        (
            refused(
                Value::Null,
                json!({"username": "mgr.sh001", "pin": "135791"}),
            ),
            StatusCode::FORBIDDEN,
            "a wrong PIN",
        ),
        (
            refused(Value::Null, json!({"username": "nobody", "pin": DEMO_PIN})),
            StatusCode::FORBIDDEN,
            "an unknown approver",
        ),
    ];
    for (body, expected, what) in cases {
        let (status, answer) = app.post("/api/v1/returns", Some(&lane), body).await;
        assert_eq!(status, expected, "{what}: {answer}");
    }
    // A cashier's own session needs the approval as well.
    let cashier = app.login("cashier1.sh001").await;
    let (status, answer) = app
        .post("/api/v1/returns", Some(&cashier), request.clone())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        on_hand(&app, &admin, &skus[0]).await,
        stock,
        "nothing came back"
    );
    let (_, view) = app
        .get(
            &format!("/api/v1/pos/sales/{}", s["id"].as_str().unwrap()),
            Some(&admin),
        )
        .await;
    assert_eq!(view["returns"], json!([]));

    // Guessing a manager's PIN is limited per approver (429 with Retry-After), even with the
    // right PIN once the limit is reached.
    let mut limited = false;
    for _ in 0..20 {
        let (status, _) = app
            .post(
                "/api/v1/returns",
                Some(&lane),
                refused(
                    Value::Null,
                    json!({"username": "mgr.sh001", "pin": "975310"}),
                ),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert!(limited, "wrong PINs are limited");
    let (status, _) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            approved_return(request.clone(), "SH001"),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Head office's administrator approves at any store; the return records who approved it
    // and who rang it up, and the audit log says so.
    let mut ok = approved_return(request.clone(), "SH001");
    ok["approval"] = json!({"username": "admin", "pin": DEMO_PIN});
    let (status, r) = app.post("/api/v1/returns", Some(&lane), ok).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["approved_by"], "admin");
    assert_eq!(r["cashier"], "cashier1.sh001");
    assert_eq!(on_hand(&app, &admin, &skus[0]).await, stock + 1);
    let (_, audit) = app
        .get(
            &format!("/api/v1/audit?entity_id={}", s["id"].as_str().unwrap()),
            Some(&admin),
        )
        .await;
    let refund = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "refund")
        .unwrap();
    assert_eq!(refund["detail"]["approved_by"], "admin", "{refund}");
    assert_eq!(refund["detail"]["cashier"], "cashier1.sh001");

    // A store manager's own session approves by itself.
    let mgr = app.login("mgr.sh001").await;
    let (status, r) = app
        .post(
            "/api/v1/returns",
            Some(&mgr),
            json!({"id": new_id(), "order_id": s["id"], "lines": [{"line_no": 1, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["approved_by"], "mgr.sh001");
}
both_backends!(a_return_needs_a_managers_pin, a_return_needs_a_managers_pin);

/// The refund goes back through the tenders the sale was paid with, electronic first and cash
/// last, never more per tender than it paid, and the returns of a sale add up to its payments
/// per tender; the sale as read back later shows the same split.
async fn a_refund_goes_back_to_the_tender(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 2).await;
    // ¥35.50: ¥20.00 by card, ¥15.50 in cash.
    let s = sale(
        "SH001",
        None,
        &[(&skus[0], 2, 500), (&skus[1], 1, 2_550)],
        &[("card", 2_000, 0), ("cash", 1_550, 0)],
    );
    assert_eq!(
        push(&app, &lane, std::slice::from_ref(&s)).await[0]["outcome"],
        "applied"
    );
    let give_back = |lines: Value| {
        approved_return(
            json!({"id": new_id(), "order_id": s["id"], "lines": lines}),
            "SH001",
        )
    };
    let (status, r1) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            give_back(json!([{"line_no": 1, "qty": 1}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r1}");
    assert_eq!(r1["tenders"], json!([{"method": "card", "amount": "5.00"}]));
    let (status, r2) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            give_back(json!([{"line_no": 2, "qty": 1}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r2}");
    assert_eq!(
        r2["tenders"],
        json!([{"method": "card", "amount": "15.00"}, {"method": "cash", "amount": "10.50"}])
    );
    let (status, r3) = app
        .post(
            "/api/v1/returns",
            Some(&lane),
            give_back(json!([{"line_no": 1, "qty": 1}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r3}");
    assert_eq!(r3["tenders"], json!([{"method": "cash", "amount": "5.00"}]));
    let (_, view) = app
        .get(
            &format!("/api/v1/pos/sales/{}", s["id"].as_str().unwrap()),
            Some(&admin),
        )
        .await;
    assert_eq!(view["status"], "refunded");
    assert_eq!(view["returns"], json!([r1, r2, r3]));
}
both_backends!(
    a_refund_goes_back_to_the_tender,
    a_refund_goes_back_to_the_tender
);
