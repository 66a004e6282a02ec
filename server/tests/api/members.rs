//! members API tests: registration and look-up, encryption of phone numbers at rest, manual
//! point adjustments, top-ups, member codes, the ledger functions the order code calls, and
//! points expiry.

use reqwest::StatusCode;
use retail_domain::codes::{CodeVerifier, MemberCode, SignedCode};
use retail_domain::ids::new_id;
use retail_domain::money::Money;
use retail_server::storage::members as m;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

const DAY_MS: i64 = 86_400_000;

fn yuan(text: &str) -> Money {
    Money::parse(text).unwrap()
}

async fn register(app: &TestApp, token: &str, phone: &str) -> (StatusCode, Value, Uuid) {
    let id = new_id();
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(token),
            json!({"id": id, "phone": phone, "name": "测试会员"}),
        )
        .await;
    (status, body, id)
}

async fn member_count(app: &TestApp) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT COUNT(*) AS n FROM members")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<i64, _>(&row, "n")
}

/// Sum of the points ledger, straight from the table.
async fn ledger_sum(app: &TestApp, member: Uuid) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS total FROM points_ledger WHERE member_id = $1")
        .bind(member.to_string())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<i64, _>(&row, "total")
}

async fn register_and_look_up(app: TestApp) {
    let cashier = app.login("cashier1.sh001").await;
    let (status, body, id) = register(&app, &cashier, "+86 139-1234-5678").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id.to_string());
    assert_eq!(body["phone"], "139****5678");
    assert_eq!(body["name"], "测试会员");
    assert_eq!(body["growth"], 0);
    assert_eq!(body["tier"]["code"], "regular");
    assert_eq!(body["points"], 0);
    assert_eq!(body["balance"], "0.00");

    // Retry with the same id: the same member, nothing new.
    let (status, again) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": id, "phone": "13912345678", "name": "测试会员"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], id.to_string());

    for phone in ["13912345678", "8613912345678", "+86 139 1234 5678"] {
        let (status, found) = app
            .post(
                "/api/v1/members/lookup",
                Some(&cashier),
                json!({ "phone": phone }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{phone}: {found}");
        assert_eq!(found["id"], id.to_string());
    }
    let (status, _) = app
        .post(
            "/api/v1/members/lookup",
            Some(&cashier),
            json!({ "phone": "13912345679" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .post(
            "/api/v1/members/lookup",
            Some(&cashier),
            json!({ "phone": "12345" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["phone"].is_string(), "{body}");
    let (status, _) = app
        .post(
            "/api/v1/members/lookup",
            None,
            json!({ "phone": "13912345678" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, got) = app
        .get(&format!("/api/v1/members/{id}"), Some(&cashier))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["phone"], "139****5678");
    let (status, _) = app
        .get(&format!("/api/v1/members/{}", new_id()), Some(&cashier))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A demo member: growth 1200 is silver, with opening points and stored balance.
    let (status, demo) = app
        .post(
            "/api/v1/members/lookup",
            Some(&cashier),
            json!({ "phone": "13800138002" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{demo}");
    assert_eq!(demo["phone"], "138****8002");
    assert_eq!(demo["tier"]["code"], "silver");
    assert_eq!(demo["tier"]["multiplier"], "1.2");
    assert_eq!(demo["tier"]["discount"], "0.98");
    assert_eq!(demo["points"], 350);
    assert_eq!(demo["balance"], "50.00");

    // Documented in the OpenAPI document.
    let (status, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/members",
        "/api/v1/members/lookup",
        "/api/v1/members/{id}",
        "/api/v1/members/{id}/points",
        "/api/v1/members/{id}/balance",
        "/api/v1/members/{id}/points/adjustments",
        "/api/v1/members/{id}/balance/topups",
        "/api/v1/members/{id}/member-code",
        "/api/v1/members/resolve-code",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Member"].is_object());
}
crate::both_backends!(register_and_look_up, register_and_look_up);

async fn phone_is_never_stored_in_clear(app: TestApp) {
    let cashier = app.login("cashier1.sh001").await;
    let (status, body, _) = register(&app, &cashier, "13987654321").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut tx = app.state.store.begin().await.unwrap();
    let rows = sqlx::query("SELECT id, phone_enc, phone_hash FROM members")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    assert!(rows.len() >= 9, "demo members and the new one");
    for row in &rows {
        let enc: String = sqlx::Row::get(row, "phone_enc");
        let hash: String = sqlx::Row::get(row, "phone_hash");
        for text in [&enc, &hash] {
            assert!(!text.contains("13800138"), "{text}");
            assert!(!text.contains("13987654321"), "{text}");
        }
    }
    // The sealed value opens to the number with the data key.
    let opened: Vec<String> = rows
        .iter()
        .map(|row| {
            app.state
                .keys
                .open(
                    retail_server::secrets::SealedField::MemberPhone,
                    sqlx::Row::get::<String, _>(row, "id").parse().unwrap(),
                    &sqlx::Row::get::<String, _>(row, "phone_enc"),
                )
                .unwrap()
        })
        .collect();
    assert!(opened.contains(&"13987654321".to_owned()));

    if let Some(path) = app.settings.database_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap();
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend_from_slice(&b);
            }
        }
        assert!(bytes.len() > 4096, "read the database file");
        for needle in ["13987654321", "13800138001", "13800138002", "13800138007"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in clear in the SQLite files"
            );
        }
    }
}
crate::both_backends!(
    phone_is_never_stored_in_clear,
    phone_is_never_stored_in_clear
);

async fn duplicate_and_bad_phones(app: TestApp) {
    let cashier = app.login("cashier1.sh001").await;
    let (status, first, first_id) = register(&app, &cashier, "15012345678").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let before = member_count(&app).await;

    let (status, body, _) = register(&app, &cashier, "+86 150 1234 5678").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "member_exists");
    assert_eq!(body["error"]["member_id"], first_id.to_string());
    let (status, body, _) = register(&app, &cashier, "13800138001").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "member_exists");

    // The same id with another phone is not a retry.
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": first_id, "phone": "15012345679"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "id_in_use");

    for bad in [
        "1501234567",
        "150123456789",
        "12012345678",
        "25012345678",
        "phone",
        "",
        "+1 15012345678",
        "150-1234-567x",
    ] {
        let (status, body, _) = register(&app, &cashier, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["error"]["fields"]["phone"].is_string(), "{body}");
    }
    // Not a v7 id, unknown fields, an overlong name.
    let (status, _) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": Uuid::nil(), "phone": "15112345678"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": new_id(), "phone": "15112345678", "vip": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": new_id(), "phone": "15112345678", "name": "长".repeat(65)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/api/v1/members",
            None,
            json!({"id": new_id(), "phone": "15112345678"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(member_count(&app).await, before, "nothing inserted");
}
crate::both_backends!(duplicate_and_bad_phones, duplicate_and_bad_phones);

async fn manual_point_adjustments(app: TestApp) {
    let cashier = app.login("cashier1.sh001").await;
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let (_, _, member) = register(&app, &cashier, "15812345678").await;
    let path = format!("/api/v1/members/{member}/points/adjustments");

    let adjustment = new_id();
    let (status, body) = app
        .post(
            &path,
            Some(&admin),
            json!({"id": adjustment, "delta": 500, "reason": "goodwill: late delivery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"], 500);
    assert_eq!(body["entry"]["kind"], "adjust");
    assert_eq!(body["entry"]["ref_id"], adjustment.to_string());
    assert!(
        body["entry"]["expires_at"].is_string(),
        "positive adjustments expire like earnings"
    );
    let entry_id = body["entry"]["id"].clone();

    // A retry answers the first result and changes nothing.
    let (status, again) = app
        .post(
            &path,
            Some(&admin),
            json!({"id": adjustment, "delta": 500, "reason": "goodwill: late delivery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["entry"]["id"], entry_id);
    assert_eq!(again["points"], 500);
    let (status, body) = app
        .post(
            &path,
            Some(&admin),
            json!({"id": adjustment, "delta": 600, "reason": "goodwill: late delivery"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "id_in_use");

    // A manager takes some back; more than the balance is refused.
    let (status, body) = app
        .post(
            &path,
            Some(&manager),
            json!({"id": new_id(), "delta": -200, "reason": "duplicate credit"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"], 300);
    let (status, body) = app
        .post(
            &path,
            Some(&manager),
            json!({"id": new_id(), "delta": -301, "reason": "too much"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_points");

    // Cashiers may not adjust; bad input changes nothing.
    let (status, _) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": new_id(), "delta": 100, "reason": "friend"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (delta, reason) in [
        (0, "zero"),
        (1_000_001, "huge"),
        (-1_000_001, "huge"),
        (10, "  "),
    ] {
        let (status, body) = app
            .post(
                &path,
                Some(&admin),
                json!({"id": new_id(), "delta": delta, "reason": reason}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{delta} {reason:?}: {body}"
        );
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/members/{}/points/adjustments", new_id()),
            Some(&admin),
            json!({"id": new_id(), "delta": 5, "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Balance = ledger sum, everywhere.
    assert_eq!(ledger_sum(&app, member).await, 300);
    assert_eq!(
        m::points_balance(&app.state.store, member).await.unwrap(),
        300
    );
    let (_, got) = app
        .get(&format!("/api/v1/members/{member}"), Some(&cashier))
        .await;
    assert_eq!(got["points"], 300);
    let (status, ledger) = app
        .get(&format!("/api/v1/members/{member}/points"), Some(&cashier))
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = ledger["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["delta"], -200, "newest first");
    assert_eq!(
        items
            .iter()
            .map(|i| i["delta"].as_i64().unwrap())
            .sum::<i64>(),
        300
    );
    // Paging by cursor.
    let (_, page1) = app
        .get(
            &format!("/api/v1/members/{member}/points?limit=1"),
            Some(&cashier),
        )
        .await;
    assert_eq!(page1["items"][0]["delta"], -200);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .get(
            &format!("/api/v1/members/{member}/points?limit=1&cursor={cursor}"),
            Some(&cashier),
        )
        .await;
    assert_eq!(page2["items"][0]["delta"], 500);
    let (status, _) = app
        .get(
            &format!("/api/v1/members/{member}/points?cursor=garbage"),
            Some(&cashier),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a malformed cursor");

    // Audited.
    let (status, audit) = app
        .get(&format!("/api/v1/audit?entity_id={member}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let adjusts: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "points.adjust")
        .collect();
    assert_eq!(adjusts.len(), 2, "{audit}");
    assert!(
        adjusts
            .iter()
            .any(|e| e["actor"] == "staff:admin"
                && e["detail"]["reason"] == "goodwill: late delivery")
    );
    assert!(adjusts
        .iter()
        .any(|e| e["actor"] == "staff:mgr.sh001" && e["detail"]["delta"] == -200));
    // A store manager's adjustment is bounded (default 5,000 either way): a large one is refused
    // and changes nothing; head office may make it.
    let (_, before) = app
        .get(&format!("/api/v1/members/{member}"), Some(&cashier))
        .await;
    let (status, body) = app
        .post(
            &path,
            Some(&manager),
            json!({"id": new_id(), "delta": 1_000_000, "reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, after) = app
        .get(&format!("/api/v1/members/{member}"), Some(&cashier))
        .await;
    assert_eq!(before["points"], after["points"]);
    let (status, body) = app
        .post(
            &path,
            Some(&admin),
            json!({"id": new_id(), "delta": 6_000, "reason": "campaign"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

crate::both_backends!(manual_point_adjustments, manual_point_adjustments);

async fn stored_balance_top_ups(app: TestApp) {
    let cashier = app.login("cashier1.sh001").await;
    let admin = app.login("admin").await;
    let (_, _, member) = register(&app, &cashier, "17712345678").await;
    let path = format!("/api/v1/members/{member}/balance/topups");
    let id = new_id();
    let (status, body) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": id, "amount": "100.00", "tender": "cash"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["balance"], "100.00");
    assert_eq!(body["entry"]["kind"], "topup");
    let (status, again) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": id, "amount": "100.00", "tender": "cash"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["entry"]["id"], body["entry"]["id"]);
    assert_eq!(again["balance"], "100.00");
    let (status, body) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": id, "amount": "90.00", "tender": "cash"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": new_id(), "amount": "25.50", "tender": "card"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for amount in [
        json!("0.00"),
        json!("-5.00"),
        json!("5000.01"),
        json!("100000.00"),
        json!(5),
        json!("1.234"),
    ] {
        let (status, body) = app
            .post(
                &path,
                Some(&cashier),
                json!({"id": new_id(), "amount": amount, "tender": "cash"}),
            )
            .await;
        assert!(
            status.is_client_error() && status != StatusCode::NOT_FOUND,
            "{amount}: {status} {body}"
        );
    }
    let (status, _) = app
        .post(
            &path,
            Some(&admin),
            json!({"id": new_id(), "amount": "10.00", "tender": "cash"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "head office is not at a till"
    );

    let (_, got) = app
        .get(&format!("/api/v1/members/{member}"), Some(&cashier))
        .await;
    assert_eq!(got["balance"], "125.50");
    let (status, ledger) = app
        .get(&format!("/api/v1/members/{member}/balance"), Some(&cashier))
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = ledger["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["amount"], "25.50");
    assert_eq!(items[1]["amount"], "100.00");
    assert!(ledger["next_cursor"].is_null());

    // A top-up names its tender; without one nothing is recorded.
    let (status, _) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": new_id(), "amount": "10.00"}),
        )
        .await;
    assert!(status.is_client_error());
    let (status, _) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": new_id(), "amount": "10.00", "tender": "gift"}),
        )
        .await;
    assert!(status.is_client_error());
    // The tender is in the audit log.
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={member}"), Some(&admin))
        .await;
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "balance.topup" && e["detail"]["tender"] == "card"));
    // One cashier's top-ups are limited per day (default ¥20,000): the attack of topping up
    // without limit is refused once the day's total would pass it, and changes nothing; a
    // retry of an accepted top-up still answers.
    let mut last = None;
    for _ in 0..3 {
        let id = new_id();
        let (status, body) = app
            .post(
                &path,
                Some(&cashier),
                json!({"id": id, "amount": "5000.00", "tender": "cash"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        last = Some(id);
    }
    let (status, body) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": new_id(), "amount": "5000.00", "tender": "cash"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "daily_topup_limit");
    let (status, _) = app
        .post(
            &path,
            Some(&cashier),
            json!({"id": last.unwrap(), "amount": "5000.00", "tender": "cash"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a retry is not a new top-up");
    let (_, got) = app
        .get(&format!("/api/v1/members/{member}"), Some(&cashier))
        .await;
    assert_eq!(got["balance"], "15125.50");
}
crate::both_backends!(stored_balance_top_ups, stored_balance_top_ups);

async fn member_codes(app: TestApp) {
    let cashier = app.login("cashier1.sh001").await;
    let (_, demo) = app
        .post(
            "/api/v1/members/lookup",
            Some(&cashier),
            json!({ "phone": "13800138003" }),
        )
        .await;
    let member: Uuid = demo["id"].as_str().unwrap().parse().unwrap();

    let (status, issued) = app
        .post(
            &format!("/api/v1/members/{member}/member-code"),
            Some(&cashier),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let code = issued["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("MC1."), "{code}");
    let expires: chrono::DateTime<chrono::Utc> =
        issued["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - chrono::Utc::now();
    assert!(ttl.num_seconds() > 50 && ttl.num_seconds() <= 60, "{ttl}");

    // Lanes verify offline with the chain's key (from their pricing context, with their
    // credential).
    let verifier = CodeVerifier::from_public_b64(&app.state.keys.verifier().public_b64()).unwrap();
    assert_eq!(
        verifier.verify(&code, chrono::Utc::now()).unwrap(),
        SignedCode::Member(MemberCode {
            member_id: member,
            expires_at: expires
        })
    );

    let (status, resolved) = app
        .post(
            "/api/v1/members/resolve-code",
            Some(&cashier),
            json!({"code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["id"], member.to_string());
    assert_eq!(resolved["phone"], "138****8003");

    // Tampered: one character of the signature changed.
    let mut tampered = code.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (status, body) = app
        .post(
            "/api/v1/members/resolve-code",
            Some(&cashier),
            json!({"code": tampered}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_code");
    // Another member's id under the original signature.
    let forged = code.replacen(
        &retail_domain::ids::short_b64(member),
        &retail_domain::ids::short_b64(new_id()),
        1,
    );
    let (status, body) = app
        .post(
            "/api/v1/members/resolve-code",
            Some(&cashier),
            json!({"code": forged}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_code");
    let (status, body) = app
        .post(
            "/api/v1/members/resolve-code",
            Some(&cashier),
            json!({"code": "6901234567892"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Expired, correctly signed.
    let expired = app.state.keys.signer.sign(&SignedCode::Member(MemberCode {
        member_id: member,
        expires_at: chrono::Utc::now() - chrono::Duration::seconds(5),
    }));
    let (status, body) = app
        .post(
            "/api/v1/members/resolve-code",
            Some(&cashier),
            json!({"code": expired}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "code_expired");

    // Unknown member, unauthenticated callers.
    let (status, _) = app
        .post(
            &format!("/api/v1/members/{}/member-code", new_id()),
            Some(&cashier),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post("/api/v1/members/resolve-code", None, json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            &format!("/api/v1/members/{member}/member-code"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Code resolution is rate limited per caller.
    let mut limited = false;
    for _ in 0..40 {
        let (status, _) = app
            .post(
                "/api/v1/members/resolve-code",
                Some(&cashier),
                json!({"code": "MC1.x"}),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "resolve-code is rate limited");
}
crate::both_backends!(member_codes, member_codes);

async fn ledger_functions_for_orders(app: TestApp) {
    let cashier = app.login("cashier1.sh001").await;
    let (_, _, member) = register(&app, &cashier, "18612345678").await;
    let store = &app.state.store;
    let rules = &app.state.settings.points;
    let now = retail_server::storage::now_ms();

    // Earning: regular tier, 1 point per yuan, growth one per yuan; idempotent by ref.
    let mut tx = store.begin().await.unwrap();
    let earned = m::earn_in_tx(
        &mut tx,
        rules,
        member,
        yuan("1234.56"),
        "order-1",
        "system",
        now,
    )
    .await
    .unwrap();
    assert_eq!(earned, 1234);
    let again = m::earn_in_tx(
        &mut tx,
        rules,
        member,
        yuan("1234.56"),
        "order-1",
        "system",
        now,
    )
    .await
    .unwrap();
    assert_eq!(again, 1234);
    tx.commit().await.unwrap();
    let (_, got) = app
        .get(&format!("/api/v1/members/{member}"), Some(&cashier))
        .await;
    assert_eq!(got["growth"], 1234, "growth added once");
    assert_eq!(got["tier"]["code"], "silver");
    assert_eq!(got["points"], 1234);
    // Silver earns 1.2×.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        m::earn_in_tx(
            &mut tx,
            rules,
            member,
            yuan("100.00"),
            "order-2",
            "system",
            now
        )
        .await
        .unwrap(),
        120
    );
    let unknown = m::earn_in_tx(
        &mut tx,
        rules,
        new_id(),
        yuan("100.00"),
        "order-3",
        "system",
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.status(), 422);
    tx.commit().await.unwrap();
    assert_eq!(m::points_balance(store, member).await.unwrap(), 1354);

    // Redeeming: refused beyond the balance, idempotent by ref.
    let dialect = store.dialect();
    let mut tx = store.begin().await.unwrap();
    let err = m::redeem_in_tx(&mut tx, dialect, member, 1355, "order-4", "system")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "insufficient_points");
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    m::redeem_in_tx(&mut tx, dialect, member, 1000, "order-4", "system")
        .await
        .unwrap();
    m::redeem_in_tx(&mut tx, dialect, member, 1000, "order-4", "system")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(m::points_balance(store, member).await.unwrap(), 354);
    // A retry after the balance went low still succeeds (it already applied).
    let mut tx = store.begin().await.unwrap();
    m::redeem_in_tx(&mut tx, dialect, member, 1000, "order-4", "system")
        .await
        .unwrap();
    // Cancelled: the redeemed points come back, once.
    assert!(
        m::refund_points_in_tx(&mut tx, member, 1000, "order-4", "system")
            .await
            .unwrap()
    );
    assert!(
        !m::refund_points_in_tx(&mut tx, member, 1000, "order-4", "system")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(m::points_balance(store, member).await.unwrap(), 1354);

    // A reversal is recorded whole: what was already spent becomes points debt (a negative
    // balance, the reason saying how much); growth never goes below zero.
    let mut tx = store.begin().await.unwrap();
    m::redeem_in_tx(&mut tx, dialect, member, 1300, "order-5", "system")
        .await
        .unwrap();
    assert!(
        m::reverse_in_tx(&mut tx, member, 1234, 5000, "return-1", "system")
            .await
            .unwrap()
    );
    assert!(
        !m::reverse_in_tx(&mut tx, member, 1234, 5000, "return-1", "system")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(m::points_balance(store, member).await.unwrap(), 54 - 1234);
    assert_eq!(ledger_sum(&app, member).await, 54 - 1234);
    let (_, ledger) = app
        .get(&format!("/api/v1/members/{member}/points"), Some(&cashier))
        .await;
    assert_eq!(ledger["items"][0]["kind"], "reverse");
    assert_eq!(ledger["items"][0]["delta"], -1234, "the whole reversal");
    assert_eq!(
        ledger["items"][0]["reason"],
        "1180 of the 1234 points reversed were already spent: owed as points debt"
    );
    let (_, got) = app
        .get(&format!("/api/v1/members/{member}"), Some(&cashier))
        .await;
    assert_eq!(got["growth"], 0);
    assert_eq!(got["points"], -1180, "the signed sum: 1180 points owed");

    // Stored balance.
    let (status, _) = app
        .post(
            &format!("/api/v1/members/{member}/balance/topups"),
            Some(&cashier),
            json!({"id": new_id(), "amount": "50.00", "tender": "cash"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut tx = store.begin().await.unwrap();
    let err = m::pay_balance_in_tx(
        &mut tx,
        dialect,
        member,
        yuan("50.01"),
        "order-6",
        None,
        "system",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "insufficient_balance");
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    m::pay_balance_in_tx(
        &mut tx,
        dialect,
        member,
        yuan("30.00"),
        "order-6",
        None,
        "system",
    )
    .await
    .unwrap();
    m::pay_balance_in_tx(
        &mut tx,
        dialect,
        member,
        yuan("30.00"),
        "order-6",
        None,
        "system",
    )
    .await
    .unwrap();
    assert!(
        m::refund_balance_in_tx(&mut tx, member, yuan("10.00"), "refund-1", None, "system")
            .await
            .unwrap()
    );
    assert!(
        !m::refund_balance_in_tx(&mut tx, member, yuan("10.00"), "refund-1", None, "system")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let (_, got) = app
        .get(&format!("/api/v1/members/{member}"), Some(&cashier))
        .await;
    assert_eq!(got["balance"], "30.00");
    assert!(m::exists(store, member).await.unwrap());
    assert!(!m::exists(store, new_id()).await.unwrap());
}
crate::both_backends!(ledger_functions_for_orders, ledger_functions_for_orders);

async fn points_expire_first_in_first_out(app: TestApp) {
    let cashier = app.login("cashier1.sh001").await;
    let (_, _, member) = register(&app, &cashier, "13312345678").await;
    let (_, _, other) = register(&app, &cashier, "13312345679").await;
    let store = &app.state.store;
    let rules = &app.state.settings.points;
    let now = retail_server::storage::now_ms();
    let long_ago = now - 800 * DAY_MS; // more than 24 months: expired
    let recently = now - 30 * DAY_MS;

    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        m::earn_in_tx(
            &mut tx,
            rules,
            member,
            yuan("100.00"),
            "old-1",
            "system",
            long_ago
        )
        .await
        .unwrap(),
        100
    );
    assert_eq!(
        m::earn_in_tx(
            &mut tx,
            rules,
            member,
            yuan("50.00"),
            "new-1",
            "system",
            recently
        )
        .await
        .unwrap(),
        50
    );
    // 30 points were spent: FIFO takes them from the old lot, so 70 of it expire unspent.
    m::redeem_in_tx(&mut tx, store.dialect(), member, 30, "order-1", "system")
        .await
        .unwrap();
    // The other member spent more than the old lot: nothing of it is left to expire.
    assert_eq!(
        m::earn_in_tx(
            &mut tx,
            rules,
            other,
            yuan("40.00"),
            "old-2",
            "system",
            long_ago
        )
        .await
        .unwrap(),
        40
    );
    assert_eq!(
        m::earn_in_tx(
            &mut tx,
            rules,
            other,
            yuan("90.00"),
            "new-2",
            "system",
            recently
        )
        .await
        .unwrap(),
        90
    );
    m::redeem_in_tx(&mut tx, store.dialect(), other, 60, "order-2", "system")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Before the old lot's expiry nothing expires.
    assert_eq!(m::expire_points(store, long_ago + DAY_MS).await.unwrap(), 0);

    assert_eq!(m::expire_points(store, now).await.unwrap(), 70);
    assert_eq!(
        m::points_balance(store, member).await.unwrap(),
        50,
        "the recent lot is intact"
    );
    assert_eq!(m::points_balance(store, other).await.unwrap(), 70);
    assert_eq!(ledger_sum(&app, member).await, 50);
    // Idempotent.
    assert_eq!(m::expire_points(store, now).await.unwrap(), 0);
    assert_eq!(m::expire_points(store, now + 1000).await.unwrap(), 0);
    let (_, ledger) = app
        .get(&format!("/api/v1/members/{member}/points"), Some(&cashier))
        .await;
    let expired: Vec<&Value> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "expire")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["delta"], -70);

    // Redeemed points given back belong to the lot they were taken from (here the expired one).
    let mut tx = store.begin().await.unwrap();
    assert!(
        m::refund_points_in_tx(&mut tx, member, 30, "order-1", "system")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(m::expire_points(store, now).await.unwrap(), 30);
    assert_eq!(m::points_balance(store, member).await.unwrap(), 50);
    assert_eq!(m::expire_points(store, now).await.unwrap(), 0);

    // Much later the recent lots expire too, never below zero.
    let later = now + 800 * DAY_MS;
    assert_eq!(m::expire_points(store, later).await.unwrap(), 50 + 70);
    assert_eq!(m::points_balance(store, member).await.unwrap(), 0);
    assert_eq!(m::points_balance(store, other).await.unwrap(), 0);
    assert_eq!(m::expire_points(store, later).await.unwrap(), 0);
    // Demo opening balances do not expire.
    let (_, demo) = app
        .post(
            "/api/v1/members/lookup",
            Some(&cashier),
            json!({ "phone": "13800138002" }),
        )
        .await;
    assert_eq!(demo["points"], 350);
}
crate::both_backends!(
    points_expire_first_in_first_out,
    points_expire_first_in_first_out
);

/// Finding 17: `POST /members` was a phone-number oracle that any caller could repeat without
/// limit, creating members for any phone; look-ups carried the phone in the URL. Devices may no
/// longer register; a staff account's registrations and look-ups share one per-minute budget
/// (429 with `Retry-After`, nothing created); the phone travels only in bodies.
async fn registration_is_no_oracle(app: TestApp) {
    let (_, device) = app
        .register_device("mgr.sh001", "SH001", "pos", "lane 9")
        .await;
    let before = member_count(&app).await;
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(&device),
            json!({"id": new_id(), "phone": "15000000001"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["member_id"].is_null());
    assert_eq!(member_count(&app).await, before, "a device created nobody");

    // Walking the demo phones through registration: after 30 in a minute, refused.
    let cashier = app.login("cashier2.sh001").await;
    for i in 1..=30 {
        let (status, body, _) = register(&app, &cashier, &format!("138001380{i:02}")).await;
        assert!(
            status == StatusCode::CONFLICT || status == StatusCode::OK,
            "{i}: {status} {body}"
        );
    }
    let created = member_count(&app).await;
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(&cashier),
            json!({"id": new_id(), "phone": "15000000002"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["error"]["member_id"].is_null(), "{body}");
    assert_eq!(
        member_count(&app).await,
        created,
        "the refused call created nobody"
    );
    // The same budget: look-ups are refused too, with Retry-After.
    let resp = app
        .client
        .post(format!("{}/api/v1/members/lookup", app.url))
        .bearer_auth(&cashier)
        .json(&json!({ "phone": "13800138001" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_some());

    // Phone numbers are not taken from URLs any more.
    let admin = app.login("admin").await;
    let (status, _) = app
        .get("/api/v1/members/lookup?phone=13800138001", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = app
        .post(
            "/api/v1/members/lookup?phone=13800138001",
            Some(&admin),
            json!({}),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body.get("id").is_none(), "{body}");
    let (_, doc) = app.get("/api/v1/openapi.json", None).await;
    assert!(doc["paths"]["/api/v1/members/lookup"]["get"].is_null());
    assert!(doc["paths"]["/api/v1/members/lookup"]["post"].is_object());
}
crate::both_backends!(registration_is_no_oracle, registration_is_no_oracle);
