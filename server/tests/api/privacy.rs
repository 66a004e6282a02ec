//! Privacy (PIPL, issue 15) through the shop's pages on both backends: a member downloads their
//! own data and nobody else's; deleting an account anonymises the person (the phone signs up
//! again as a new member) while the ledgers stay consistent, and is refused while a balance is
//! left or an order is open; consent to the privacy policy is recorded with its version, and a
//! member who has not accepted the current version is asked again before using `/me`.

use reqwest::StatusCode;
use retail_server::app::privacy::{self, Deleted, PRIVACY_POLICY_VERSION};
use retail_server::storage;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_backends;
use crate::pricing::{coupon_template, issue_coupon};
use crate::support::TestApp;
use crate::web::{a_sku, between, pickup_order, shopper, Browser};

/// The member with this phone, if any.
async fn member_of(app: &TestApp, phone: &str) -> Option<Uuid> {
    storage::members::by_phone(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        phone,
    )
    .await
    .unwrap()
    .map(|m| m.id)
}

async fn points_of(app: &TestApp, member: Uuid) -> i64 {
    storage::members::get(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        member,
    )
    .await
    .unwrap()
    .points
}

/// The sum of the member's points ledger, read row by row.
async fn ledger_sum(app: &TestApp, member: Uuid) -> i64 {
    storage::members::points_page(&app.state.store, member, None, 500)
        .await
        .unwrap()
        .items
        .iter()
        .map(|e| e.delta)
        .sum()
}

/// Logs `phone` in from a fresh browser, ticking the privacy box only when `consent`.
async fn log_in(app: &TestApp, phone: &str, consent: bool) -> (Browser, crate::web::Page) {
    let mut b = Browser::new(app);
    let page = b.post_csrf("/login/code", &[("phone", phone)]).await;
    let code = between(&page.body, "id=\"sms-code\">", "<").to_owned();
    let mut form = vec![("phone", phone), ("code", code.as_str()), ("back", "/me")];
    if consent {
        form.push(("consent", "on"));
    }
    let page = b.post_csrf("/login", &form).await;
    (b, page)
}

async fn download(b: &mut Browser) -> Value {
    let page = b.get("/me/data").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let disposition = page.disposition.clone().unwrap_or_default();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains(".json"),
        "{disposition}"
    );
    serde_json::from_str(&page.body).unwrap()
}

/// The download holds the member's profile (phone in clear), ledgers, orders with lines,
/// coupons, notices and consents, and nothing of another member; another member's session gets
/// its own data only; an anonymous browser is sent to log in.
async fn members_download_their_own_data_only(app: TestApp) {
    let (_, sku) = a_sku(&app, "纯牛奶").await;
    let mut anon = Browser::new(&app);
    let page = anon.get("/me/data").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location.unwrap().starts_with("/login"));
    assert!(!page.body.contains("phone"));

    let mut alice = shopper(&app, "13900009001").await;
    let mut bob = shopper(&app, "13900009002").await;
    let order = pickup_order(&mut alice, sku).await;
    assert!(alice.get("/me").await.body.contains("href=\"/me/data\""));

    let data = download(&mut alice).await;
    let alice_id = member_of(&app, "13900009001").await.unwrap();
    assert_eq!(data["profile"]["phone"], "13900009001");
    assert_eq!(data["profile"]["id"], alice_id.to_string());
    let orders = data["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{data}");
    assert_eq!(orders[0]["id"], order);
    assert_eq!(orders[0]["lines"][0]["sku_id"], sku.to_string());
    assert!(data["points_ledger"].is_array());
    assert!(data["balance_ledger"].is_array());
    assert!(data["coupons"].is_array());
    assert!(data["notices"].is_array());
    assert_eq!(
        data["consents"][0]["policy_version"],
        PRIVACY_POLICY_VERSION
    );
    let text = data.to_string();
    assert!(!text.contains("13900009002"), "no other member's phone");

    // Bob's session fetches Bob's data: Alice's phone and order are not in it.
    let data = download(&mut bob).await;
    assert_eq!(data["profile"]["phone"], "13900009002");
    assert_eq!(data["orders"], json!([]));
    let text = data.to_string();
    assert!(!text.contains("13900009001") && !text.contains(&order));
}
both_backends!(
    members_download_their_own_data_only,
    members_download_their_own_data_only
);

/// Deletion is refused (409, nothing changed) while a balance is left or an order is open;
/// without the typed confirmation (422) and without the CSRF token it changes nothing; then it
/// anonymises: the phone is no longer found, the session is logged out, remaining points are
/// forfeited by a ledger row (points = sum of the ledger = 0), coupons forfeited, stock ledger
/// consistent, audited; a retry changes nothing; the same phone signs up as a new member.
async fn deleting_an_account_anonymises_and_keeps_the_ledgers(app: TestApp) {
    let admin = app.login("admin").await;

    // A demo member with a stored balance: refused, nothing changes.
    let rich = member_of(&app, "13800138002").await.unwrap();
    let mut b = shopper(&app, "13800138002").await;
    let points_before = points_of(&app, rich).await;
    let page = b.post_csrf("/me/delete", &[("confirm", "DELETE")]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert_eq!(member_of(&app, "13800138002").await, Some(rich));
    assert_eq!(points_of(&app, rich).await, points_before);
    assert_eq!(b.get("/me").await.status, StatusCode::OK, "still logged in");

    // A new member with points, coupons and an open (unpaid) order.
    let phone = "13900009011";
    let (_, sku) = a_sku(&app, "纯牛奶").await;
    let mut m = shopper(&app, phone).await;
    let member = member_of(&app, phone).await.unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/members/{member}/points/adjustments"),
            Some(&admin),
            json!({"id": Uuid::now_v7(), "delta": 300, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let template = coupon_template(&app, &admin, "staff", None).await;
    issue_coupon(&app, &admin, template, member).await;
    let order = pickup_order(&mut m, sku).await;
    let page = m.post_csrf("/me/delete", &[("confirm", "DELETE")]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(page.body.contains("open"), "{}", page.body);
    assert_eq!(member_of(&app, phone).await, Some(member));
    assert_eq!(points_of(&app, member).await, 300);
    let page = m.post_csrf(&format!("/orders/{order}/cancel"), &[]).await;
    assert!(page.status.is_redirection() || page.status.is_success());

    // No confirmation typed, or no CSRF token: nothing changes.
    let page = m.post_csrf("/me/delete", &[("confirm", "yes")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("data-field=\"confirm\""));
    let page = m.post("/me/delete", &[("confirm", "DELETE")]).await;
    assert!(page.status.is_client_error(), "{}", page.status);
    assert_eq!(member_of(&app, phone).await, Some(member));
    let coupons_before = storage::coupons::usable(&app.state.store, member)
        .await
        .unwrap()
        .len();
    assert!(coupons_before > 0, "an unspent coupon");

    let page = m.get("/me/delete").await;
    assert!(page.body.contains("action=\"/me/delete\""));
    let page = m.post_csrf("/me/delete", &[("confirm", "注销")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("account-deleted"));

    // Anonymised: not found by phone, name cleared, session ended.
    assert_eq!(member_of(&app, phone).await, None);
    let (phone_enc, name, name_enc, _, deleted_at) =
        storage::privacy::member_row(&app.state.store, member)
            .await
            .unwrap()
            .unwrap();
    assert!(deleted_at.is_some());
    assert_eq!(name, "");
    assert_eq!(name_enc, None);
    assert_ne!(
        app.state
            .keys
            .open(
                retail_server::secrets::SealedField::MemberPhone,
                member,
                &phone_enc
            )
            .unwrap(),
        phone
    );
    let page = m.get("/me").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "logged out");

    // Ledgers: points forfeited by one row, points = sum of the ledger = 0; coupons forfeited.
    assert_eq!(points_of(&app, member).await, 0);
    assert_eq!(ledger_sum(&app, member).await, 0);
    let rows = storage::members::points_page(&app.state.store, member, None, 50)
        .await
        .unwrap()
        .items;
    assert!(rows
        .iter()
        .any(|e| e.kind == "expire" && e.delta == -300 && e.reason == "account deleted"));
    assert!(storage::coupons::usable(&app.state.store, member)
        .await
        .unwrap()
        .is_empty());
    let (status, body) = app.get("/api/v1/stock/ledger-check", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]));
    let (status, audit) = app
        .get(&format!("/api/v1/audit?entity_id={member}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.delete")
        .expect("audited");
    assert_eq!(entry["detail"]["points_forfeited"], 300);
    assert_eq!(
        entry["detail"]["coupons_forfeited"],
        json!(coupons_before as u64)
    );

    // Staff cannot credit the anonymised member: a top-up or a points adjustment is a 409 and
    // writes nothing.
    let cashier = app.login("cashier1.sh001").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/members/{member}/balance/topups"),
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "amount": "50.00", "tender": "cash"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "member_deleted");
    let (status, body) = app
        .post(
            &format!("/api/v1/members/{member}/points/adjustments"),
            Some(&admin),
            json!({"id": Uuid::now_v7(), "delta": 100, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "member_deleted");
    let balance = storage::members::balance_page(&app.state.store, member, None, 50)
        .await
        .unwrap();
    assert!(balance.items.is_empty(), "no balance rows");
    assert_eq!(ledger_sum(&app, member).await, 0);

    // A retry (the old session, or the use case again) changes nothing.
    let page = m.post_csrf("/me/delete", &[("confirm", "DELETE")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let again = privacy::delete_account(&app.state, member, "127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(again, Deleted::Already);
    assert_eq!(ledger_sum(&app, member).await, 0);

    // The same phone signs up again as a new member (at a till: the shop's log-in would wait
    // out the per-phone SMS resend gap first); the old orders stay with the old row.
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "phone": phone, "name": ""}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let new_member = member_of(&app, phone).await.unwrap();
    assert_ne!(new_member, member);
    assert_eq!(body["id"], new_member.to_string());
    assert_eq!(points_of(&app, new_member).await, 0);
}
both_backends!(
    deleting_an_account_anonymises_and_keeps_the_ledgers,
    deleting_an_account_anonymises_and_keeps_the_ledgers
);

/// Sign-up needs the privacy box (without it nobody signs up and the code stays usable); the
/// consent is recorded with the policy version and the client address; a member without
/// consent to the current version sees the policy instead of `/me` until they accept it.
async fn consent_is_required_and_recorded(app: TestApp) {
    let page = Browser::new(&app).get("/privacy").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(PRIVACY_POLICY_VERSION));
    assert!(page.body.contains("隐私") && page.body.contains("privacy"));

    let phone = "13900009021";
    let mut b = Browser::new(&app);
    let page = b.post_csrf("/login/code", &[("phone", phone)]).await;
    assert!(page.body.contains("name=\"consent\""));
    let code = between(&page.body, "id=\"sms-code\">", "<").to_owned();
    let page = b
        .post_csrf(
            "/login",
            &[("phone", phone), ("code", &code), ("back", "/me")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-field=\"consent\""),
        "{}",
        page.body
    );
    assert_eq!(member_of(&app, phone).await, None, "nobody signed up");
    let page = b
        .post_csrf(
            "/login",
            &[
                ("phone", phone),
                ("code", &code),
                ("back", "/me"),
                ("consent", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let member = member_of(&app, phone).await.unwrap();
    let consents = storage::privacy::consents(&app.state.store, member)
        .await
        .unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].policy_version, PRIVACY_POLICY_VERSION);
    assert_eq!(consents[0].client_addr, "127.0.0.1");
    assert!(b.get("/me").await.body.contains("id=\"points\""));

    // A member who accepted only an older version (registered at a till, then the policy
    // changed) logs in without ticking the box: /me asks first.
    let cashier = app.login("cashier1.sh001").await;
    let old_phone = "13900009022";
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "phone": old_phone, "name": "老会员"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let old = member_of(&app, old_phone).await.unwrap();
    let mut tx = app.state.store.begin().await.unwrap();
    storage::privacy::record_consent(&mut tx, old, "2000-01-01", "127.0.0.1")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (mut o, page) = log_in(&app, old_phone, false).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = o.get("/me").await;
    assert!(page.body.contains("privacy-accept"), "{}", page.body);
    assert!(!page.body.contains("id=\"points\""));
    // Without the CSRF token the acceptance is refused and nothing is recorded.
    let page = o.post("/privacy/accept", &[]).await;
    assert!(page.status.is_client_error());
    assert!(o.get("/me").await.body.contains("privacy-accept"));
    let page = o.post_csrf("/privacy/accept", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(o.get("/me").await.body.contains("id=\"points\""));
    let versions: Vec<String> = storage::privacy::consents(&app.state.store, old)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.policy_version)
        .collect();
    assert_eq!(versions, ["2000-01-01", PRIVACY_POLICY_VERSION]);
}
both_backends!(
    consent_is_required_and_recorded,
    consent_is_required_and_recorded
);

/// One column of one row, read the way the storage layer does.
async fn column(app: &TestApp, sql: &str, id: Uuid) -> Option<String> {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query(sql)
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<Option<String>, _>(&row, 0)
}

/// Finding 21: phone numbers, names and delivery addresses are sealed with a key id and bound to
/// their row; a member's name is no longer stored in clear. Rotating the data key (a new key
/// with a new id, the old one retired) seals everything again in the background at the next
/// start, including names stored in clear before; afterwards the retired key can go and
/// everything still opens.
async fn personal_data_is_sealed_and_the_data_key_rotates(mut app: TestApp) {
    let admin = app.login("admin").await;
    let member = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(&admin),
            json!({"id": member, "phone": "13912345678", "name": "王小明"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, stock) = app
        .get("/api/v1/stock?location_id=WH01&limit=1", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{stock}");
    let order = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": order, "fulfilment": "delivery",
                "address": {"name": "李四", "phone": "13800138010", "address": "杭州市西湖区文三路 100 号"},
                "lines": [{"sku_id": stock["items"][0]["sku_id"], "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let phone_sql = "SELECT phone_enc FROM members WHERE id = $1";
    let name_sql = "SELECT name_enc FROM members WHERE id = $1";
    let clear_name_sql = "SELECT name FROM members WHERE id = $1";
    let address_sql = "SELECT address_enc FROM orders WHERE id = $1";
    for (sql, id) in [
        (phone_sql, member),
        (name_sql, member),
        (address_sql, order),
    ] {
        let sealed = column(&app, sql, id).await.unwrap();
        assert!(sealed.starts_with("v2.k1."), "{sql}: {sealed}");
        assert!(!sealed.contains("13912345678") && !sealed.contains("王"));
    }
    assert_eq!(
        column(&app, clear_name_sql, member).await.as_deref(),
        Some("")
    );
    let (_, shown) = app
        .get(&format!("/api/v1/members/{member}"), Some(&admin))
        .await;
    assert_eq!(shown["name"], "王小明");

    // A name stored in clear before names were sealed.
    let older = Uuid::now_v7();
    app.post(
        "/api/v1/members",
        Some(&admin),
        json!({"id": older, "phone": "13912345679", "name": ""}),
    )
    .await;
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE members SET name = '赵老会员' WHERE id = $1")
        .bind(older.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Rotate: k2 seals, k1 is retired; the restarted server seals everything again.
    let old_key = app.settings.secrets.data_key.clone();
    let fresh = retail_server::config::Secrets::generate();
    app.settings.secrets.data_key = fresh.data_key;
    app.settings.secrets.data_key_id = "k2".into();
    app.settings
        .secrets
        .retired_data_keys
        .insert("k1".into(), old_key);
    let app = app.restart().await;
    let report = privacy::reseal(&app.state).await.unwrap();
    assert_eq!(report.failed, 0);
    for (sql, id) in [
        (phone_sql, member),
        (name_sql, member),
        (address_sql, order),
        (phone_sql, older),
        (name_sql, older),
    ] {
        let sealed = column(&app, sql, id).await.unwrap();
        assert!(sealed.starts_with("v2.k2."), "{sql}: {sealed}");
    }
    assert_eq!(
        column(&app, clear_name_sql, older).await.as_deref(),
        Some("")
    );
    assert_eq!(
        privacy::reseal(&app.state).await.unwrap(),
        Default::default()
    );

    // The retired key can go now: everything opens with k2 alone.
    let mut app = app;
    app.settings.secrets.retired_data_keys.clear();
    let app = app.restart().await;
    for (id, name, masked) in [
        (member, "王小明", "139****5678"),
        (older, "赵老会员", "139****5679"),
    ] {
        let (status, shown) = app
            .get(
                &format!("/api/v1/members/{id}"),
                Some(&admin_token(&app).await),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        assert_eq!(shown["name"], name);
        assert_eq!(shown["phone"], masked);
    }
}
both_backends!(
    personal_data_is_sealed_and_the_data_key_rotates,
    personal_data_is_sealed_and_the_data_key_rotates
);

async fn admin_token(app: &TestApp) -> String {
    app.login("admin").await
}
