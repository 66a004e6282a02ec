//! Receipt codes the whole chain verifies (docs/DESIGN.md §7): lanes register their receipt keys
//! (idempotently; every key kept; a revoked device cannot register, its printed receipts stay
//! valid; head office revokes a single key), the server verifies codes fully (forged, other
//! store, unknown key, not synced), the shop's e-receipt page, and claiming a receipt's points
//! after the fact: once per sale, member sales refused, the claim window, minus earlier returns,
//! and later returns taking the claimed points back.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use retail_domain::codes::{CodeSigner, ReceiptCode, SignedCode};
use retail_domain::money::Money;
use serde_json::{json, Value};

use crate::both_backends;
use crate::pricing::member_code;
use crate::sales::{fen, member, new_id, push, register_lane, sale, sku_ids};
use crate::support::TestApp;
use crate::web::{between, console, shopper, Browser};
use retail_testkit::server::approved_return;

/// A lane with its credential and receipt-signing key (registered).
pub(crate) struct Lane {
    id: String,
    credential: String,
    key: CodeSigner,
}

impl Lane {
    /// The receipt code of `sale` as this lane prints it (`RC2`).
    pub(crate) fn code(&self, sale: &Value) -> String {
        self.key
            .sign_receipt(
                sale["id"].as_str().unwrap().parse().unwrap(),
                sale["store"].as_str().unwrap(),
            )
            .unwrap()
    }
}

async fn put_key(app: &TestApp, credential: &str, key: &CodeSigner) -> (StatusCode, Value) {
    app.put(
        "/api/v1/pos/receipt-key",
        Some(credential),
        json!({"public_key": key.verifier().public_b64()}),
    )
    .await
}

/// Registers a lane at `store` and its receipt key.
async fn lane(app: &TestApp, admin: &str, store: &str, name: &str) -> Lane {
    let (id, credential) = register_lane(app, admin, store, name).await;
    let key = CodeSigner::generate();
    let (status, body) = put_key(app, &credential, &key).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Lane {
        id,
        credential,
        key,
    }
}

async fn view(app: &TestApp, code: &str) -> (StatusCode, Value) {
    app.get(&format!("/api/v1/receipts?code={code}"), None)
        .await
}

fn refused(status: StatusCode, body: &Value, code: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["fields"]["receipt_code"].is_string(),
        "{body}"
    );
}

/// Changes one character inside the signature (still well-formed base64url: a forgery, not
/// garbage; the last character is avoided, its padding bits must stay zero).
fn forge(code: &str) -> String {
    let mut bytes = code.as_bytes().to_vec();
    let at = bytes.len() - 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

async fn points_of(app: &TestApp, admin: &str, member: &str) -> i64 {
    let (status, body) = app
        .get(&format!("/api/v1/members/{member}"), Some(admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["points"].as_i64().unwrap()
}

/// The points a sale of `paid` earns the member now (their tier's multiplier).
async fn would_earn(app: &TestApp, admin: &str, member: &str, paid_fen: i64) -> i64 {
    let (_, body) = app
        .get(&format!("/api/v1/members/{member}"), Some(admin))
        .await;
    let rules = &app.state.settings.points;
    let tier = rules.tier(body["tier"]["code"].as_str().unwrap()).unwrap();
    rules.points_earned(Money::from_fen(paid_fen), tier)
}

async fn claim(
    app: &TestApp,
    claim_id: &str,
    code: &str,
    member_code: &str,
) -> (StatusCode, Value) {
    app.post(
        "/api/v1/receipts/claim",
        None,
        json!({"claim_id": claim_id, "receipt_code": code, "member_code": member_code}),
    )
    .await
}

/// Head office's token, a registered lane A at SH001 and `n` SKUs stocked there.
pub(crate) async fn setup(app: &TestApp, n: usize) -> (String, Lane, Vec<String>) {
    let admin = app.login("admin").await;
    let a = lane(app, &admin, "SH001", "Lane A").await;
    let skus = sku_ids(app, &admin, n).await;
    (admin, a, skus)
}

/// Returns `lines` (`[(line_no, qty)]`) of `sale` at the lane; answers the return.
async fn give_back(app: &TestApp, lane: &Lane, sale: &Value, lines: &[(u32, i64)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(line_no, qty)| json!({"line_no": line_no, "qty": qty}))
        .collect();
    let (status, body) = app
        .post(
            "/api/v1/returns",
            Some(&lane.credential),
            approved_return(
                json!({"id": new_id(), "order_id": sale["id"], "lines": lines}),
                "SH001",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub(crate) async fn sold(app: &TestApp, lane: &Lane, s: &Value) {
    let results = push(app, &lane.credential, std::slice::from_ref(s)).await;
    assert_eq!(results[0]["outcome"], "applied", "{:?}", results[0]);
}

/// Keys: registered once (201) and again (200), a device's every key kept, another device's key
/// refused, only lanes register, each lane gets its own store's keys, a revoked device registers
/// nothing but its receipts still verify, and head office revokes a single key.
async fn keys_register_and_survive_revocation(app: TestApp) {
    let admin = app.login("admin").await;
    let a = lane(&app, &admin, "SH001", "Lane A").await;
    let (status, again) = put_key(&app, &a.credential, &a.key).await;
    assert_eq!(status, StatusCode::OK, "the same key again: {again}");
    assert_eq!(again["key_id"], json!(a.key.verifier().key_id()));
    assert_eq!(again["store"], "SH001");
    assert_eq!(again["device_id"], json!(a.id));
    assert_eq!(again["revoked_at"], Value::Null);
    // The lane lost its database: a new key, and the old one is kept.
    let new_key = CodeSigner::generate();
    let (status, body) = put_key(&app, &a.credential, &new_key).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let b = lane(&app, &admin, "SH001", "Lane B").await;
    let (status, body) = put_key(&app, &b.credential, &a.key).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "key_in_use");
    let (status, keys) = app
        .get("/api/v1/pos/receipt-keys", Some(&b.credential))
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_eq!(keys["store"], "SH001");
    let listed: Vec<(&str, &str)> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["device_id"].as_str().unwrap(),
                k["public_key"].as_str().unwrap(),
            )
        })
        .collect();
    let (a_old, a_new, b_key) = (
        a.key.verifier().public_b64(),
        new_key.verifier().public_b64(),
        b.key.verifier().public_b64(),
    );
    assert_eq!(
        listed,
        vec![
            (a.id.as_str(), a_old.as_str()),
            (a.id.as_str(), a_new.as_str()),
            (b.id.as_str(), b_key.as_str())
        ]
    );
    // Bad keys, other devices, other stores.
    for bad in [
        json!({"public_key": "abc"}),
        json!({"public_key": "!".repeat(43)}),
    ] {
        let (status, body) = app
            .put("/api/v1/pos/receipt-key", Some(&a.credential), bad)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let (status, _) = app
        .put(
            "/api/v1/pos/receipt-key",
            Some(&a.credential),
            json!({"public_key": a_old, "extra": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, edge) = app
        .post(
            "/api/v1/devices",
            Some(&admin),
            json!({"id": new_id(), "location_id": "SH001", "kind": "edge", "name": "Edge"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edge}");
    let edge_credential = edge["credential"].as_str().unwrap();
    let (status, _) = put_key(&app, edge_credential, &CodeSigner::generate()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = put_key(&app, "dv_nonsense", &CodeSigner::generate()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let c = lane(&app, &admin, "SH002", "Lane C").await;
    let (_, keys) = app
        .get("/api/v1/pos/receipt-keys", Some(&c.credential))
        .await;
    assert_eq!(keys["store"], "SH002");
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    let manager = app.login("mgr.sh001").await;
    let (status, keys) = app
        .get("/api/v1/pos/receipt-keys?store=SH001", Some(&manager))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 3);
    let (status, _) = app
        .get("/api/v1/pos/receipt-keys?store=SH002", Some(&manager))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/pos/receipt-keys", Some(&manager)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A sale of lane A; then the device is revoked: no new keys, but its receipt still verifies.
    let skus = sku_ids(&app, &admin, 1).await;
    let s = sale("SH001", None, &[(&skus[0], 1, 1_000)], &[]);
    sold(&app, &a, &s).await;
    let code = a.code(&s);
    let (status, _) = app
        .post(
            &format!("/api/v1/devices/{}/revoke", a.id),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = put_key(&app, &a.credential, &CodeSigner::generate()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = view(&app, &code).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a printed receipt stays valid: {body}"
    );
    let (_, keys) = app
        .get("/api/v1/pos/receipt-keys", Some(&b.credential))
        .await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 3, "{keys}");

    // Head office revokes the key itself: its codes are refused from then on.
    let kid = a.key.verifier().key_id();
    let path = format!("/api/v1/devices/{}/receipt-keys/{kid}/revoke", a.id);
    let (status, _) = app.post(&path, Some(&manager), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, revoked) = app.post(&path, Some(&admin), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked[0]["revoked_at"].is_string(), "{revoked}");
    let (status, again) = app.post(&path, Some(&admin), json!({})).await;
    assert_eq!((status, &again), (StatusCode::OK, &revoked));
    let (status, body) = app
        .post(
            &format!("/api/v1/devices/{}/receipt-keys/AAAAAAAA/revoke", a.id),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = view(&app, &code).await;
    refused(status, &body, "revoked_receipt_key");
    let (_, keys) = app
        .get("/api/v1/pos/receipt-keys", Some(&b.credential))
        .await;
    let revoked_listed = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_string())
        .count();
    assert_eq!(revoked_listed, 1, "{keys}");
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={}", a.id), Some(&admin))
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(actions.contains(&"receipt_key.revoke"), "{audit}");
    assert!(actions.contains(&"device.receipt_key"), "{audit}");
}

both_backends!(
    keys_register_and_survive_revocation,
    keys_register_and_survive_revocation
);

/// The server verifies receipt codes fully: the e-receipt of a genuine code (RC2 and RC1), and
/// forged codes, codes of another store, unknown keys, other kinds of code and sales not synced
/// yet refused with a clear error.
async fn server_verifies_receipt_codes(app: TestApp) {
    let (admin, a, skus) = setup(&app, 2).await;
    let s = sale(
        "SH001",
        None,
        &[(&skus[0], 3, 1_234), (&skus[1], 1, 5_000)],
        &[("card", 3_702, 0), ("cash", 5_000, 0)],
    );
    sold(&app, &a, &s).await;
    let code = a.code(&s);
    assert!(code.starts_with("RC2."), "{code}");
    let (status, body) = view(&app, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sale_id"], s["id"]);
    assert!(
        body["order_no"].as_str().unwrap().starts_with('S'),
        "{body}"
    );
    assert_eq!(body["store"], "SH001");
    assert!(!body["store_name_zh"].as_str().unwrap().is_empty());
    assert_eq!(body["total"], "87.02");
    assert_eq!(body["cashier"], "cashier1.sh001");
    assert_eq!(body["lines"].as_array().unwrap().len(), 2);
    assert_eq!(body["lines"][0]["qty"], 3);
    assert_eq!(body["lines"][0]["unit_price"], "12.34");
    let methods: Vec<&str> = body["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods.len(), 2);
    assert!(methods.contains(&"card") && methods.contains(&"cash"));
    assert_eq!(body["member_sale"], false);
    assert_eq!(body["claim"], Value::Null);
    assert_eq!(fen(&body["refunded"]), 0);
    // A version 1 code (no key id) of a registered key still verifies.
    let v1 = a.key.sign(&SignedCode::Receipt(ReceiptCode {
        sale_id: s["id"].as_str().unwrap().parse().unwrap(),
        store: "SH001".into(),
        key_id: None,
    }));
    let (status, body) = view(&app, &v1).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Forged: a changed signature, or another sale's signature on this sale.
    let (status, body) = view(&app, &forge(&code)).await;
    refused(status, &body, "forged_receipt_code");
    let other = a.key.sign_receipt(uuid::Uuid::now_v7(), "SH001").unwrap();
    let spliced = format!(
        "{}.{}",
        code.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    let (status, body) = view(&app, &spliced).await;
    refused(status, &body, "forged_receipt_code");
    // Another store: this lane's key does not vouch for SH002's receipts.
    let elsewhere = a
        .key
        .sign_receipt(s["id"].as_str().unwrap().parse().unwrap(), "SH002")
        .unwrap();
    let (status, body) = view(&app, &elsewhere).await;
    refused(status, &body, "unknown_receipt_key");
    // A lane of SH002 signing SH001's sale id under its own store: the sale is not its store's.
    let c = lane(&app, &admin, "SH002", "Lane C").await;
    let (status, body) = view(&app, &c.code(&json!({"id": s["id"], "store": "SH002"}))).await;
    refused(status, &body, "invalid_receipt_code");
    // An unknown key.
    let stranger = CodeSigner::generate()
        .sign_receipt(s["id"].as_str().unwrap().parse().unwrap(), "SH001")
        .unwrap();
    let (status, body) = view(&app, &stranger).await;
    refused(status, &body, "unknown_receipt_key");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not registered"),
        "{body}"
    );
    // Not a receipt code at all.
    for text in ["hello", "6901234567892", "MC1.abc.def.ghi"] {
        let (status, body) = view(&app, text).await;
        refused(status, &body, "invalid_receipt_code");
    }
    // A genuine code of a sale the lane has not pushed yet.
    let (status, body) = view(
        &app,
        &a.key.sign_receipt(uuid::Uuid::now_v7(), "SH001").unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("yet"),
        "{body}"
    );
    // The routes are in the OpenAPI document.
    let (_, doc) = app.get("/api/v1/openapi.json", None).await;
    for path in [
        "/api/v1/pos/receipt-key",
        "/api/v1/pos/receipt-keys",
        "/api/v1/receipts",
        "/api/v1/receipts/claim",
        "/api/v1/devices/{id}/receipt-keys/{key_id}/revoke",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

both_backends!(server_verifies_receipt_codes, server_verifies_receipt_codes);

/// A member claims a sale's points once (a retry answers the same claim, a second claim by
/// anyone is 409); returns of the claimed sale take the points back as for a member sale.
async fn claims_once_and_returns_take_points_back(app: TestApp) {
    let (admin, a, skus) = setup(&app, 2).await;
    let s = sale(
        "SH001",
        None,
        &[(&skus[0], 3, 1_234), (&skus[1], 1, 5_000)],
        &[],
    );
    sold(&app, &a, &s).await;
    let code = a.code(&s);
    let (shopper_id, _, _) = member(&app, &admin, "13800138003").await;
    let (other_id, _, _) = member(&app, &admin, "13800138004").await;
    let before = points_of(&app, &admin, &shopper_id).await;
    let other_before = points_of(&app, &admin, &other_id).await;
    let expected = would_earn(&app, &admin, &shopper_id, 8_702).await;
    assert!(expected >= 87, "{expected}");

    let mc = member_code(&app, &admin, shopper_id.parse().unwrap()).await;
    let claim_id = new_id();
    let (status, first) = claim(&app, &claim_id, &code, &mc).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["points"], expected);
    assert_eq!(first["created"], true);
    assert_eq!(first["earned_on"], "87.02");
    assert_eq!(first["points_balance"], before + expected);
    assert_eq!(
        points_of(&app, &admin, &shopper_id).await,
        before + expected
    );
    // The same claim again: the same answer, nothing credited twice.
    let (status, again) = claim(&app, &claim_id, &code, &mc).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["created"], false);
    assert_eq!(again["points"], expected);
    assert_eq!(
        points_of(&app, &admin, &shopper_id).await,
        before + expected
    );
    // A second claim, by the same member or anyone else: 409, nothing changes.
    let (status, body) = claim(&app, &new_id(), &code, &mc).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_claimed");
    let other_mc = member_code(&app, &admin, other_id.parse().unwrap()).await;
    let (status, body) = claim(&app, &new_id(), &code, &other_mc).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_claimed");
    // The claim id of this claim for another claim: 409.
    let s2 = sale("SH001", None, &[(&skus[0], 1, 2_000)], &[]);
    sold(&app, &a, &s2).await;
    let (status, body) = claim(&app, &claim_id, &a.code(&s2), &mc).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "id_in_use");
    assert_eq!(
        points_of(&app, &admin, &shopper_id).await,
        before + expected
    );
    assert_eq!(points_of(&app, &admin, &other_id).await, other_before);
    // The e-receipt and the sale show the claim; the points ledger has the earn row.
    let (_, body) = view(&app, &code).await;
    assert_eq!(body["claim"]["points"], expected, "{body}");
    assert_eq!(body["points_earned"], expected);
    assert_eq!(body["member_sale"], false);
    let (_, ledger) = app
        .get(
            &format!("/api/v1/members/{shopper_id}/points"),
            Some(&admin),
        )
        .await;
    assert!(
        ledger["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "earn" && e["ref_id"] == s["id"] && e["delta"] == expected),
        "{ledger}"
    );

    // Returns take back the points of the returned part, as for a member sale.
    let r1 = give_back(&app, &a, &s, &[(1, 1)]).await;
    let refund = fen(&r1["refund"]);
    assert_eq!(refund, 1_234);
    let first_back = expected * refund / 8_702;
    assert_eq!(r1["points_reversed"], first_back);
    assert_eq!(
        points_of(&app, &admin, &shopper_id).await,
        before + expected - first_back
    );
    let r2 = give_back(&app, &a, &s, &[(1, 2), (2, 1)]).await;
    assert_eq!(r2["points_reversed"], expected - first_back);
    assert_eq!(points_of(&app, &admin, &shopper_id).await, before);
}

both_backends!(
    claims_once_and_returns_take_points_back,
    claims_once_and_returns_take_points_back
);

/// Refused claims change nothing: a member sale, forged / other-store / unknown codes, a bad
/// member code, a sale not synced, outside the claim window, nothing left to claim. A claim after
/// a return earns on what is left, and the last return takes all of it back.
async fn claim_refusals_change_nothing(app: TestApp) {
    let (admin, a, skus) = setup(&app, 2).await;
    let (shopper_id, _, _) = member(&app, &admin, "13800138005").await;
    let (card_holder, _, _) = member(&app, &admin, "13800138006").await;
    let mc = member_code(&app, &admin, shopper_id.parse().unwrap()).await;
    let before = points_of(&app, &admin, &shopper_id).await;

    // Made with a member: its points went to that member.
    let with_member = sale("SH001", Some(&card_holder), &[(&skus[0], 2, 1_500)], &[]);
    sold(&app, &a, &with_member).await;
    let (status, body) = claim(&app, &new_id(), &a.code(&with_member), &mc).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "member_sale");
    let (_, shown) = view(&app, &a.code(&with_member)).await;
    assert_eq!(shown["member_sale"], true);

    let s = sale(
        "SH001",
        None,
        &[(&skus[0], 2, 2_500), (&skus[1], 1, 5_000)],
        &[],
    );
    sold(&app, &a, &s).await;
    let code = a.code(&s);
    let sale_id: uuid::Uuid = s["id"].as_str().unwrap().parse().unwrap();
    let refusals = [
        (forge(&code), "forged_receipt_code"),
        (
            a.key.sign_receipt(sale_id, "SH002").unwrap(),
            "unknown_receipt_key",
        ),
        (
            CodeSigner::generate()
                .sign_receipt(sale_id, "SH001")
                .unwrap(),
            "unknown_receipt_key",
        ),
        ("RC2.nonsense".to_owned(), "invalid_receipt_code"),
    ];
    for (text, why) in &refusals {
        let (status, body) = claim(&app, &new_id(), text, &mc).await;
        refused(status, &body, why);
    }
    let (status, body) = claim(&app, &new_id(), &code, "MC1.forged.1.x").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["member_code"].is_string(), "{body}");
    let (status, body) = claim(&app, &uuid::Uuid::new_v4().to_string(), &code, &mc).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let unsynced = a.key.sign_receipt(uuid::Uuid::now_v7(), "SH001").unwrap();
    let (status, body) = claim(&app, &new_id(), &unsynced, &mc).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Outside the claim window.
    let mut old = sale("SH001", None, &[(&skus[0], 1, 3_000)], &[]);
    old["completed_at"] = json!((Utc::now() - Duration::days(31)).to_rfc3339());
    sold(&app, &a, &old).await;
    let (status, body) = claim(&app, &new_id(), &a.code(&old), &mc).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "claim_window_closed");
    // Too small to earn a point.
    let tiny = sale("SH001", None, &[(&skus[0], 1, 50)], &[]);
    sold(&app, &a, &tiny).await;
    let (status, body) = claim(&app, &new_id(), &a.code(&tiny), &mc).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "nothing_to_claim");
    assert_eq!(points_of(&app, &admin, &shopper_id).await, before);

    // Returned before the claim: the claim earns on what is left; the last return takes it all.
    let r1 = give_back(&app, &a, &s, &[(2, 1)]).await;
    assert_eq!(r1["points_reversed"], 0);
    let expected = would_earn(&app, &admin, &shopper_id, 5_000).await;
    let (status, claimed) = claim(&app, &new_id(), &code, &mc).await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["earned_on"], "50.00");
    assert_eq!(claimed["points"], expected);
    assert_eq!(
        points_of(&app, &admin, &shopper_id).await,
        before + expected
    );
    let r2 = give_back(&app, &a, &s, &[(1, 1)]).await;
    assert_eq!(r2["points_reversed"], expected / 2);
    let r3 = give_back(&app, &a, &s, &[(1, 1)]).await;
    assert_eq!(r3["points_reversed"], expected - expected / 2);
    assert_eq!(points_of(&app, &admin, &shopper_id).await, before);
    // Returned completely (without a claim): nothing to claim.
    let gone = sale("SH001", None, &[(&skus[1], 1, 4_000)], &[]);
    sold(&app, &a, &gone).await;
    let _ = give_back(&app, &a, &gone, &[(1, 1)]).await;
    let (status, body) = claim(&app, &new_id(), &a.code(&gone), &mc).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "nothing_to_claim");
    assert_eq!(points_of(&app, &admin, &shopper_id).await, before);
    let (_, card_view) = app
        .get(&format!("/api/v1/members/{card_holder}"), Some(&admin))
        .await;
    assert!(card_view["points"].as_i64().unwrap() > 0);
}

both_backends!(claim_refusals_change_nothing, claim_refusals_change_nothing);

/// The shop's e-receipt page over HTTP: the code form with camera scanning, the sale as on the
/// paper, the refusals in words, log-in to claim, the claim itself (once), and English.
async fn e_receipt_page(app: TestApp) {
    let (admin, a, skus) = setup(&app, 2).await;
    let s = sale(
        "SH001",
        None,
        &[(&skus[0], 2, 1_990), (&skus[1], 1, 3_500)],
        &[],
    );
    sold(&app, &a, &s).await;
    let code = a.code(&s);
    let (_, store) = app.get("/api/v1/locations", None).await;
    let store_name = store
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "SH001")
        .map(|l| l["name_zh"].as_str().unwrap().to_owned())
        .unwrap();

    let mut guest = Browser::new(&app);
    let page = guest.get("/receipt").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"receipt-form\""), "{}", page.body);
    assert!(page.body.contains("data-scan-formats=\"qr_code\""));
    let page = guest.get(&format!("/receipt?code={code}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"e-receipt\""), "{}", page.body);
    assert!(page.body.contains(&store_name));
    assert!(page.body.contains("item 1") && page.body.contains("item 2"));
    assert!(page.body.contains("¥74.80"), "total shown");
    assert!(page.body.contains("现金"), "payment shown");
    assert!(page.body.contains("id=\"claim-login\""), "log in to claim");
    for (text, words) in [
        (forge(&code), "伪造"),
        (
            CodeSigner::generate()
                .sign_receipt(uuid::Uuid::now_v7(), "SH001")
                .unwrap(),
            "未在系统登记",
        ),
        (
            a.key.sign_receipt(uuid::Uuid::now_v7(), "SH001").unwrap(),
            "还没有同步",
        ),
        ("hello".to_owned(), "不是有效的小票码"),
    ] {
        let page = guest.get(&format!("/receipt?code={text}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("id=\"receipt-error\""), "{}", page.body);
        assert!(page.body.contains(words), "{words}: {}", page.body);
        assert!(!page.body.contains("id=\"e-receipt\""));
    }

    let (member_id, _, _) = member(&app, &admin, "13800138007").await;
    let before = points_of(&app, &admin, &member_id).await;
    let expected = would_earn(&app, &admin, &member_id, 7_480).await;
    let mut phone = shopper(&app, "13800138007").await;
    let page = phone.get(&format!("/receipt?code={code}")).await;
    assert!(page.body.contains("id=\"claim-form\""), "{}", page.body);
    assert_eq!(
        between(&page.body, "id=\"claim-points\">", "<"),
        expected.to_string()
    );
    let claim_id = between(&page.body, "name=\"claim_id\" value=\"", "\"").to_owned();
    let form = [("code", code.as_str()), ("claim_id", claim_id.as_str())];
    let done = phone.post_csrf("/receipt/claim", &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let to = done.location.unwrap();
    assert!(to.ends_with("&msg=claimed"), "{to}");
    let page = phone.get(&to).await;
    assert!(page.body.contains("积分已到账"), "{}", page.body);
    assert!(page.body.contains("您已领取本单积分"), "{}", page.body);
    assert_eq!(points_of(&app, &admin, &member_id).await, before + expected);
    // The same form again is the same claim; a new claim is refused in words.
    let again = phone.post_csrf("/receipt/claim", &form).await;
    assert!(again.location.unwrap().ends_with("&msg=claimed"));
    let other = phone
        .post_csrf(
            "/receipt/claim",
            &[("code", code.as_str()), ("claim_id", &new_id())],
        )
        .await;
    let to = other.location.unwrap();
    assert!(to.ends_with("&msg=already_claimed"), "{to}");
    assert!(phone.get(&to).await.body.contains("已被领取"));
    assert_eq!(points_of(&app, &admin, &member_id).await, before + expected);
    // Someone else sees it was claimed; without a CSRF token nothing happens.
    let page = guest.get(&format!("/receipt?code={code}")).await;
    assert!(page.body.contains("本单积分已被领取"), "{}", page.body);
    let page = phone
        .post(
            "/receipt/claim",
            &[("code", code.as_str()), ("claim_id", &new_id())],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Logged out, a claim goes to the log-in first.
    let page = guest
        .post_csrf(
            "/receipt/claim",
            &[("code", code.as_str()), ("claim_id", &new_id())],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location.unwrap().starts_with("/login?back="));
    // The member centre links here; English on request.
    assert!(phone.get("/me").await.body.contains("href=\"/receipt\""));
    phone.get("/lang/en?back=/receipt").await;
    let page = phone.get(&format!("/receipt?code={code}")).await;
    assert!(page.body.contains("E-receipt"), "{}", page.body);
    assert!(page.body.contains("You claimed the points of this sale"));
}

both_backends!(e_receipt_page, e_receipt_page);

/// The console's devices page lists each lane's receipt keys; head office revokes one there
/// (its codes are refused from then on), a store manager sees them but has no revoke button.
async fn console_lists_and_revokes_receipt_keys(app: TestApp) {
    let (_, a, skus) = setup(&app, 1).await;
    let s = sale("SH001", None, &[(&skus[0], 1, 1_000)], &[]);
    sold(&app, &a, &s).await;
    let code = a.code(&s);
    let key_id = a.key.verifier().key_id();

    let mut manager = console(&app, "mgr.sh001").await;
    let page = manager.get("/console/devices").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&key_id), "the manager sees the key");
    assert!(
        !page.body.contains("/receipt-keys/"),
        "but cannot revoke it"
    );
    let refused_page = manager
        .post_csrf(
            &format!("/console/devices/{}/receipt-keys/{key_id}/revoke", a.id),
            &[],
        )
        .await;
    assert_eq!(refused_page.status, StatusCode::FORBIDDEN);
    let (status, _) = view(&app, &code).await;
    assert_eq!(status, StatusCode::OK, "still valid");

    let mut office = console(&app, "admin").await;
    let page = office.get("/console/devices").await;
    let action = format!("/console/devices/{}/receipt-keys/{key_id}/revoke", a.id);
    assert!(page.body.contains(&action), "head office has the button");
    let done = office.post_csrf(&action, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = office.get("/console/devices").await;
    assert!(!page.body.contains(&action), "revoked: no button");
    let row = between(&page.body, &key_id, "</div>");
    assert!(row.contains("已吊销"), "{row}");
    let (status, body) = view(&app, &code).await;
    refused(status, &body, "revoked_receipt_key");
}

both_backends!(
    console_lists_and_revokes_receipt_keys,
    console_lists_and_revokes_receipt_keys
);
