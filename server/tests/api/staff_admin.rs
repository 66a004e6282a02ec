//! Staff administration (issue 15, finding 1): head office and store managers administer
//! accounts within their rights, passwords follow the chain's rules, a reset forces a change,
//! disabling ends sessions, nobody removes the last administrator, and each change is audited.
//! Also production mode: a server outside demo mode starts with no account, no demo password,
//! no sandbox provider, and its first administrator comes from the command line.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

const GOOD: &str = "tangerine orbit canal 42";
const GOOD_2: &str = "copper lantern meadow 77";

async fn login_with(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
}

async fn token_of(app: &TestApp, username: &str, password: &str) -> String {
    let (status, body) = login_with(app, username, password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// `PATCH` JSON with a staff token: the status and the JSON body.
pub(crate) async fn patch(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    let resp = app
        .client
        .patch(format!("{}{path}", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn audit_actions(app: &TestApp, admin: &str, id: &str) -> Vec<String> {
    let (status, entries) = app
        .get(&format!("/api/v1/audit?entity_id={id}"), Some(admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn staff_are_administered(app: TestApp) {
    let admin = app.login("admin").await;
    let id = Uuid::now_v7();
    let new_cashier = |password: &str| {
        json!({"id": id, "username": "Li.Na", "display_name": "李娜", "role": "cashier",
               "location_id": "SH001", "password": password})
    };
    // Weak, common and too-short passwords are refused and create nothing.
    for weak in ["demo1234", "password1234", "li.na-123456", "short"] {
        let (status, body) = app
            .post("/api/v1/staff", Some(&admin), new_cashier(weak))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}: {body}");
        assert!(body["error"]["fields"]["password"].is_string(), "{body}");
    }
    let (status, _) = app.get(&format!("/api/v1/staff/{id}"), Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Created once; a retry answers the same account.
    let (status, created) = app
        .post("/api/v1/staff", Some(&admin), new_cashier(GOOD))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["username"], "li.na");
    assert_eq!(created["must_change_password"], true);
    assert!(created.get("password_hash").is_none() && !created.to_string().contains("argon2"));
    let (status, again) = app
        .post("/api/v1/staff", Some(&admin), new_cashier(GOOD))
        .await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &created["id"]));
    // The same name under another id is taken.
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&admin),
            json!({"id": Uuid::now_v7(), "username": "li.na", "display_name": "x",
                   "role": "cashier", "location_id": "SH001", "password": GOOD}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A store role needs a store; head office has none.
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&admin),
            json!({"id": Uuid::now_v7(), "username": "nostore", "display_name": "x",
                   "role": "cashier", "password": GOOD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The new account must change its password before anything else.
    let cashier = token_of(&app, "li.na", GOOD).await;
    let (status, me) = app.get("/api/v1/auth/me", Some(&cashier)).await;
    assert_eq!(
        (status, &me["must_change_password"]),
        (StatusCode::OK, &json!(true))
    );
    let (status, _) = app.get("/api/v1/stock?store=SH001", Some(&cashier)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(
            "/api/v1/auth/password",
            Some(&cashier),
            json!({"old_password": "wrong", "password": GOOD_2}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/auth/password",
            Some(&cashier),
            json!({"old_password": GOOD, "password": GOOD_2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, me) = app.get("/api/v1/auth/me", Some(&cashier)).await;
    assert_eq!(
        (status, &me["must_change_password"]),
        (StatusCode::OK, &json!(false))
    );
    let (status, _) = login_with(&app, "li.na", GOOD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");

    // A cashier administers nobody.
    let (status, _) = app.get("/api/v1/staff", Some(&cashier)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &format!("/api/v1/staff/{id}/password"),
            Some(&cashier),
            json!({"password": "a brand new phrase 9"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A store manager: cashiers of their own store only.
    let manager = app.login("mgr.sh001").await;
    let (status, list) = app.get("/api/v1/staff", Some(&manager)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["location_id"] == "SH001"));
    let (status, _) = app
        .get("/api/v1/staff?location=SH002", Some(&manager))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (role, store) in [
        ("cashier", "SH002"),
        ("store_manager", "SH001"),
        ("head_office_admin", ""),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/staff",
                Some(&manager),
                json!({"id": Uuid::now_v7(), "username": format!("x.{role}"), "display_name": "x",
                       "role": role, "location_id": store, "password": GOOD}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role} at {store}: {body}");
    }
    let (status, body) = patch(
        &app,
        &format!("/api/v1/staff/{id}"),
        &manager,
        json!({"role": "store_manager"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a manager promotes nobody: {body}"
    );
    let admin_id = {
        let (_, me) = app.get("/api/v1/auth/me", Some(&admin)).await;
        me["id"].as_str().unwrap().to_owned()
    };
    let (status, _) = app
        .post(
            &format!("/api/v1/staff/{admin_id}/password"),
            Some(&manager),
            json!({"password": "a brand new phrase 9"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a manager resets no administrator"
    );
    let (status, _) = login_with(&app, "admin", retail_testkit::server::DEMO_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "and the administrator's password stands"
    );

    // The manager resets their cashier's password: sessions end, a change is due again.
    let (status, body) = app
        .post(
            &format!("/api/v1/staff/{id}/password"),
            Some(&manager),
            json!({"password": "river basket quietly 31"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.get("/api/v1/auth/me", Some(&cashier)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the reset ended the session"
    );
    let cashier = token_of(&app, "li.na", "river basket quietly 31").await;
    let (_, me) = app.get("/api/v1/auth/me", Some(&cashier)).await;
    assert_eq!(me["must_change_password"], true);

    // Lane PINs: obvious ones are refused.
    for bad in ["123456", "000000", "12345"] {
        let (status, _) = app
            .put(
                &format!("/api/v1/staff/{id}/pin"),
                Some(&manager),
                json!({"pin": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let (status, body) = app
        .put(
            &format!("/api/v1/staff/{id}/pin"),
            Some(&manager),
            json!({"pin": "480315"}),
        )
        .await;
    assert_eq!(
        (status, &body["has_pin"]),
        (StatusCode::OK, &json!(true)),
        "{body}"
    );

    // Disabling ends the sessions and the log-in at once.
    let (status, body) = patch(
        &app,
        &format!("/api/v1/staff/{id}"),
        &manager,
        json!({"active": false}),
    )
    .await;
    assert_eq!(
        (status, &body["active"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );
    let (status, _) = app.get("/api/v1/auth/me", Some(&cashier)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = login_with(&app, "li.na", "river basket quietly 31").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Every change is in the audit log.
    let actions = audit_actions(&app, &admin, &id.to_string()).await;
    for action in [
        "staff.create",
        "staff.password_change",
        "staff.password_reset",
        "staff.pin_set",
        "staff.disable",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}
crate::both_backends!(staff_are_administered, staff_are_administered);

async fn the_last_administrator_stays(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, me) = app.get("/api/v1/auth/me", Some(&admin)).await;
    let admin_id = me["id"].as_str().unwrap().to_owned();
    // Not by themselves…
    let (status, _) = patch(
        &app,
        &format!("/api/v1/staff/{admin_id}"),
        &admin,
        json!({"active": false}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // …and not by a second administrator once the first is the last one.
    let second = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/staff",
            Some(&admin),
            json!({"id": second, "username": "hq.two", "display_name": "HQ 2",
                   "role": "head_office_admin", "password": GOOD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let two = token_of(&app, "hq.two", GOOD).await;
    let (status, _) = app
        .post(
            "/api/v1/auth/password",
            Some(&two),
            json!({"old_password": GOOD, "password": GOOD_2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Every other administrator of the demo chain goes first.
    let (_, all) = app.get("/api/v1/staff", Some(&two)).await;
    for s in all.as_array().unwrap() {
        if s["role"] == "head_office_admin"
            && s["id"] != json!(second)
            && s["id"] != json!(admin_id)
        {
            let (status, _) = patch(
                &app,
                &format!("/api/v1/staff/{}", s["id"].as_str().unwrap()),
                &two,
                json!({"active": false}),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let (status, _) = patch(
        &app,
        &format!("/api/v1/staff/{admin_id}"),
        &two,
        json!({"active": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "two administrators: one may go");
    let (status, body) = patch(
        &app,
        &format!("/api/v1/staff/{second}"),
        &two,
        json!({"role": "store_manager", "location_id": "SH001"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
crate::both_backends!(the_last_administrator_stays, the_last_administrator_stays);

/// A server outside demo mode: empty, no demo password, no sandbox, first admin from the CLI.
async fn production_mode_has_no_demo_doors(app: TestApp) {
    assert!(!app.settings.demo);
    let (status, _) = login_with(&app, "admin", retail_testkit::server::DEMO_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no demo accounts");
    let (status, locations) = app.get("/api/v1/locations", None).await;
    assert_eq!(
        (status, locations),
        (StatusCode::OK, json!([])),
        "no demo chain"
    );
    // No sandbox payment page, no self-signed notification, no payment without a provider.
    let any = Uuid::now_v7();
    let resp = app
        .client
        .get(format!("{}/sandbox/pay/{any}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .client
        .post(format!("{}/sandbox/pay/{any}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(app.state.keys.payment_signature(0, b"{}").is_none());
    let body = json!({"notify_id": "n1", "payment_id": any, "provider_ref": "x",
                      "amount": "1.00", "status": "succeeded"})
    .to_string();
    let resp = app
        .client
        .post(format!("{}/api/v1/payments/notify", app.url))
        .header("content-type", "application/json")
        .header(
            "x-pay-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("x-pay-signature", "00".repeat(32))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{any}/payments"),
            None,
            json!({"id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    // The operator creates the first administrator from the command line; a weak password is
    // refused there too.
    let weak = retail_server::cli::admin(
        &app.settings,
        &["create".into(), "--username".into(), "root".into()],
        || Ok("demo1234".to_owned()),
    )
    .await;
    assert!(weak.is_err());
    let message = retail_server::cli::admin(
        &app.settings,
        &[
            "create".into(),
            "--username".into(),
            "Wang.Fang".into(),
            "--display-name".into(),
            "王芳".into(),
        ],
        || Ok(GOOD.to_owned()),
    )
    .await
    .unwrap();
    assert!(message.contains("wang.fang"), "{message}");
    let admin = token_of(&app, "wang.fang", GOOD).await;
    let (status, me) = app.get("/api/v1/auth/me", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&me["role"], &me["must_change_password"]),
        (&json!("head_office_admin"), &json!(false))
    );
    // A locked-out administrator gets a new password from the command line.
    retail_server::cli::admin(
        &app.settings,
        &[
            "reset-password".into(),
            "--username".into(),
            "wang.fang".into(),
        ],
        || Ok(GOOD_2.to_owned()),
    )
    .await
    .unwrap();
    let (status, _) = app.get("/api/v1/auth/me", Some(&admin)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the reset ended the session"
    );
    token_of(&app, "wang.fang", GOOD_2).await;
    // Staff cannot mint a member code (the member's phone shows it): a demo door only.
    let fresh = token_of(&app, "wang.fang", GOOD_2).await;
    let (status, _) = app
        .post(
            &format!("/api/v1/members/{}/member-code", Uuid::now_v7()),
            Some(&fresh),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let actions = audit_actions(&app, &fresh, me["id"].as_str().unwrap()).await;
    assert!(actions.contains(&"staff.create".to_owned()), "{actions:?}");
}
crate::both_backends!(
    production_mode_has_no_demo_doors,
    production_mode_has_no_demo_doors,
    |s: &mut retail_server::config::Settings| s.demo = false
);
