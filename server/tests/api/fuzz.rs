//! The OpenAPI fuzzer (issue 15): Schemathesis generates requests from the server's own
//! document (`/api/v1/openapi.json`) — examples, boundary and malformed values, random valid
//! ones and chains of calls linked by their responses — with a head-office administrator's, a
//! store manager's and a POS lane's credentials, and checks that no answer is a 5xx and that
//! every status and every body is one the document promises.
//!
//! Real store codes, SKUs, products, members, orders and staff are mixed into the generated
//! ids (Schemathesis "dictionaries"), so requests reach real records as well as unknown ones.
//! The run is bounded by examples per operation and uses a fixed seed: a failure is
//! reproduced by running the test again (or with the `curl` line it prints).
//!
//! Run it alone: `FUZZ_VERBOSE=1 cargo test -p retail-server --test api fuzz::openapi --
//! --nocapture` (needs `pip install schemathesis==4.32.5`; skipped loudly without it, except
//! under `CI=true`). `FUZZ_SEED` and `FUZZ_EXAMPLES` explore beyond the bounded run;
//! `FUZZ_REPORT_DIR` keeps every request and answer (HAR).
//!
//! Below it: the regression tests of what the fuzzer found, and generated device messages fed
//! to the store-bus consumer (the bus is not in the OpenAPI document).

use chrono::Utc;
use reqwest::StatusCode;
use retail_domain::codes::{MemberCode, SignedCode};
use retail_testkit::fuzzer::{FuzzRun, Protected, Schemathesis, StaffLogin};
use retail_testkit::server::DEMO_PASSWORD;
use serde_json::json;
use uuid::Uuid;

use crate::support::TestApp;

/// Test cases per operation and phase, for the head-office run and the store manager's.
const ADMIN_EXAMPLES: u32 = 40;
const MANAGER_EXAMPLES: u32 = 15;

/// The seed: the same document and seed generate the same requests.
const SEED: u64 = 15;

/// A number from the environment (to explore beyond the bounded CI run), else `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Values of one column (as text) of the rows a query returns.
pub(crate) async fn column(app: &TestApp, sql: &str) -> Vec<String> {
    let mut tx = app.state.store.begin().await.unwrap();
    let rows = sqlx::query(sql).fetch_all(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    rows.iter()
        .map(|row| sqlx::Row::get::<String, _>(row, 0))
        .collect()
}

/// What the generator is told: dictionaries of real values, the parameters that take them, and
/// the values the operations that end credentials must not take (the run's own).
struct Seeds {
    dictionaries: Vec<(String, Vec<String>)>,
    bindings: Vec<(String, String, f64)>,
    protected: Vec<Protected>,
}

/// Real values for the generator: a dictionary per kind of id, and the parameters that take
/// them (half of the time; the other half stays random, so unknown ids are tried too). The
/// operations that end credentials (revoking a device, disabling an account or resetting its
/// password) only ever act on other devices and accounts than the run's own.
async fn seeds(app: &TestApp, own_device: Uuid) -> Seeds {
    // A few orders waiting for payment at SH001, so order operations find real orders.
    let skus = column(
        app,
        "SELECT sku_id FROM stock WHERE location_id = 'SH001' AND on_hand - reserved > 10 \
         ORDER BY sku_id LIMIT 5",
    )
    .await;
    for sku in &skus[..skus.len().min(3)] {
        let (status, body) = app
            .post(
                "/api/v1/orders",
                None,
                json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
                       "lines": [{"sku_id": sku, "qty": 1}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let members = column(app, "SELECT id FROM members ORDER BY id LIMIT 5").await;
    let mut ids = Vec::new();
    for sql in [
        "SELECT id FROM orders ORDER BY id LIMIT 5",
        "SELECT id FROM products ORDER BY id LIMIT 5",
        "SELECT id FROM members ORDER BY id LIMIT 5",
        "SELECT id FROM staff WHERE username NOT IN ('admin', 'mgr.sh001') ORDER BY id LIMIT 5",
        "SELECT id FROM coupon_templates ORDER BY id LIMIT 3",
        "SELECT id FROM promotions ORDER BY id LIMIT 3",
        "SELECT id FROM transfers ORDER BY id LIMIT 3",
        "SELECT id FROM lane_payments ORDER BY id LIMIT 3",
        "SELECT id FROM device_commands ORDER BY id LIMIT 3",
    ] {
        ids.extend(column(app, sql).await);
    }
    let dictionaries = vec![
        (
            "stores".to_owned(),
            column(app, "SELECT id FROM locations ORDER BY id").await,
        ),
        (
            "skus".to_owned(),
            column(app, "SELECT id FROM skus ORDER BY id LIMIT 8").await,
        ),
        (
            "barcodes".to_owned(),
            column(app, "SELECT code FROM barcodes ORDER BY code LIMIT 8").await,
        ),
        ("members".to_owned(), members),
        ("ids".to_owned(), ids),
        // Client ids of new records must be UUIDv7 (the schema says only `uuid`): fresh ones,
        // so creates get past that check to their real rules.
        (
            "new_ids".to_owned(),
            (0..300).map(|_| Uuid::now_v7().to_string()).collect(),
        ),
    ];
    let half = 0.5;
    let mut bindings: Vec<(String, String, f64)> = Vec::new();
    for key in [
        "path.store",
        "query.store",
        "query.location_id",
        "query.from",
        "query.to",
        "body.store",
        "body.location_id",
        "body.from",
        "body.to",
    ] {
        bindings.push((key.into(), "stores".into(), half));
    }
    for key in [
        "path.sku_id",
        "query.sku_id",
        "body.sku_id",
        "body.lines[*].sku_id",
    ] {
        bindings.push((key.into(), "skus".into(), half));
    }
    for key in ["path.code", "query.code", "body.code", "body.barcode"] {
        bindings.push((key.into(), "barcodes".into(), half));
    }
    for key in ["path.id", "body.order_id", "body.product_id"] {
        bindings.push((key.into(), "ids".into(), half));
    }
    for key in [
        "body.id",
        "body.coupon_id",
        "body.sale_id",
        "body.claim_id",
        "body.promotion.id",
        "body.sales[*].id",
        "body.products[*].id",
    ] {
        bindings.push((key.into(), "new_ids".into(), 0.7));
    }
    bindings.push(("body.member_id".into(), "members".into(), half));
    bindings.push(("body.member_code".into(), "member_codes".into(), half));
    let own_staff = column(
        app,
        "SELECT id FROM staff WHERE username IN ('admin', 'mgr.sh001') ORDER BY id",
    )
    .await;
    let guard = |method: &str, path: &str, values: &[String]| Protected {
        method: method.into(),
        path: path.into(),
        parameter: "id".into(),
        values: values.to_vec(),
        instead: Uuid::now_v7().to_string(),
    };
    let protected = vec![
        guard(
            "POST",
            "/api/v1/devices/{id}/revoke",
            &[own_device.to_string()],
        ),
        guard("PATCH", "/api/v1/staff/{id}", &own_staff),
        guard("POST", "/api/v1/staff/{id}/password", &own_staff),
    ];
    Seeds {
        dictionaries,
        bindings,
        protected,
    }
}

/// Member codes of the first seeded members, signed with the server's key and valid for ten
/// minutes (a run outlasts the 60 s of a code a phone shows).
fn member_codes(app: &TestApp, seeds: &Seeds) -> (String, Vec<String>) {
    let members = seeds
        .dictionaries
        .iter()
        .find(|(name, _)| name == "members")
        .map(|(_, ids)| ids.clone())
        .unwrap_or_default();
    let expires_at = Utc::now() + chrono::Duration::minutes(10);
    let codes = members
        .iter()
        .take(2)
        .map(|id| {
            app.sign(&SignedCode::Member(MemberCode {
                member_id: id.parse().unwrap(),
                expires_at,
            }))
        })
        .collect();
    ("member_codes".to_owned(), codes)
}

/// Runs Schemathesis with these credentials and fails the test with its report when it found
/// anything.
async fn fuzz_as(
    st: &Schemathesis,
    app: &TestApp,
    seeds: &Seeds,
    username: &str,
    device_token: &str,
    max_examples: u32,
) {
    let mut dictionaries = seeds.dictionaries.clone();
    dictionaries.push(member_codes(app, seeds));
    let run = FuzzRun {
        schema_url: format!("{}/api/v1/openapi.json", app.url),
        staff: StaffLogin::Login {
            username: username.into(),
            password: DEMO_PASSWORD.into(),
        },
        device_token: device_token.to_owned(),
        max_examples: env_or("FUZZ_EXAMPLES", max_examples),
        seed: env_or("FUZZ_SEED", SEED),
        phases: vec!["examples", "coverage", "fuzzing", "stateful"],
        workers: 2,
        dictionaries,
        bindings: seeds.bindings.clone(),
        protected: seeds.protected.clone(),
        extra_args: match std::env::var("FUZZ_REPORT_DIR") {
            Ok(dir) => vec![
                "--report".into(),
                "har".into(),
                "--report-dir".into(),
                format!("{dir}/{username}"),
            ],
            Err(_) => vec![],
        },
    };
    let outcome = st.run(&run).await.expect("schemathesis runs");
    if outcome.passed && std::env::var_os("FUZZ_VERBOSE").is_some() {
        eprintln!("{}", outcome.output);
    }
    eprintln!(
        "schemathesis as {username} ({} examples per operation, seed {}): {} in {:.1} s",
        run.max_examples,
        run.seed,
        if outcome.passed { "passed" } else { "FAILED" },
        outcome.elapsed.as_secs_f64()
    );
    if !outcome.passed {
        // The full report first, then its digest last and no backtrace after it: a CI log cut
        // to its tail still says what failed.
        eprintln!("{}", outcome.output);
        eprintln!(
            "schemathesis ({}) as {username} found failures:\n{}",
            st.version,
            outcome.digest()
        );
        std::panic::resume_unwind(Box::new(format!(
            "schemathesis as {username} found failures"
        )));
    }
}

/// Issue 15: the fuzzer over the OpenAPI document finds no 5xx and no answer outside the
/// document, as head office, as a store manager, and as a POS lane.
async fn openapi_document_holds_under_fuzzing(app: TestApp) {
    let Some(st) = Schemathesis::find_or_skip().await else {
        return;
    };
    let (device, device_token) = app
        .register_device("admin", "SH001", "pos", "fuzzer lane")
        .await;
    let seeds = seeds(&app, device).await;
    fuzz_as(&st, &app, &seeds, "admin", &device_token, ADMIN_EXAMPLES).await;
    fuzz_as(
        &st,
        &app,
        &seeds,
        "mgr.sh001",
        &device_token,
        MANAGER_EXAMPLES,
    )
    .await;

    // Whatever the fuzzer did, the stock ledger still adds up.
    let admin = app.login("admin").await;
    let (status, mismatches) = app.get("/api/v1/stock/ledger-check", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{mismatches}");
    assert_eq!(mismatches, json!([]), "the stock ledger after fuzzing");
}
crate::both_backends!(
    openapi_document_holds_under_fuzzing,
    openapi_document_holds_under_fuzzing,
    super::fuzzing_settings
);

/// The store bus on (the embedded broker, on a free port), so commands to edge agents go out;
/// and, since every request comes from 127.0.0.1 and the fuzzer tries log-ins by the thousand,
/// per-address log-in limits high enough that the run's own log-ins keep working (429s stay
/// documented where they can occur; the limits themselves have their own tests).
fn fuzzing_settings(settings: &mut retail_server::config::Settings) {
    crate::bus::embedded_bus(settings);
    settings.auth.login_attempts_per_minute = 1_000_000;
    settings.auth.login_attempts_per_address_per_minute = 1_000_000;
    settings.auth.login_attempts_per_user_per_minute = 1_000_000;
}

// -------------------------------------------------------------------------------------------
// What the fuzzer found, each kept as a regression test.
// -------------------------------------------------------------------------------------------

/// Found by the fuzzer on PostgreSQL: a NUL character in a query, a path or a JSON body
/// reached the database, which refuses NULs in text, and the answer was a 500. Now every API
/// input holding one is a 400 before anything is read or written, on both databases.
async fn nul_characters_are_refused_with_400(app: TestApp) {
    let admin = app.login("admin").await;
    let (status, body) = app
        .get("/api/v1/staff?location=SH%00001", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
    let (status, body) = app
        .get("/api/v1/stores/SH%00001/shelves", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_path");
    let (status, body) = app
        .post_raw(
            "/api/v1/auth/login",
            None,
            r#"{"username": "adm\u0000in", "password": "demo1234"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_body");
    // An escaped backslash before `u0000` is text, not a NUL: an ordinary wrong log-in.
    let (status, body) = app
        .post_raw(
            "/api/v1/auth/login",
            None,
            r#"{"username": "adm\\u0000in", "password": "demo1234"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // A shelf named with a NUL is refused and the shelf stays as it was.
    let sku = column(&app, "SELECT id FROM skus ORDER BY id LIMIT 1").await[0].clone();
    let path = format!("/api/v1/stores/SH001/shelves/{sku}");
    let (_, before) = app
        .get("/api/v1/stores/SH001/shelves?limit=1000", Some(&admin))
        .await;
    let response = app
        .client
        .put(format!("{}{path}", app.url))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(r#"{"shelf": "A1\u0000"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, after) = app
        .get("/api/v1/stores/SH001/shelves?limit=1000", Some(&admin))
        .await;
    assert_eq!(before, after);
}
crate::both_backends!(
    nul_characters_are_refused_with_400,
    nul_characters_are_refused_with_400
);

/// Found by the fuzzer: the catalog took a member price of ¥13,924,712,066,044.50, above the
/// largest unit price the pricing engine accepts (¥1,000,000), after which every order of the
/// SKU was refused. Chain, member and store prices above it are now refused with 422 and
/// change nothing; the SKU stays on sale.
async fn prices_the_engine_cannot_sell_are_refused(app: TestApp) {
    let admin = app.login("admin").await;
    let sku = column(
        &app,
        "SELECT sku_id FROM stock WHERE location_id = 'SH001' AND on_hand - reserved > 5 \
         ORDER BY sku_id LIMIT 1",
    )
    .await[0]
        .clone();
    let prices = || async {
        let (status, sku) = app
            .get(
                &format!("/api/v1/products/{}", product_of(&app, &sku).await),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{sku}");
        sku
    };
    let before = prices().await;
    let price_path = format!("/api/v1/skus/{sku}/price");
    for body in [
        json!({"price": "10.00", "member_price": "13924712066044.50"}),
        json!({"price": "1000000.01"}),
    ] {
        let (status, answer) = app.put(&price_path, Some(&admin), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    }
    let (status, answer) = app
        .put(
            &format!("/api/v1/stores/SH001/prices/{sku}"),
            Some(&admin),
            json!({"price": "1000000.01"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(prices().await, before, "nothing changed");
    let (status, body) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
                   "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "still on sale: {body}");
    // The largest price is taken (a store price up to 200% of it is not: it would be above).
    let (status, answer) = app
        .put(&price_path, Some(&admin), json!({"price": "1000000.00"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = app
        .put(
            &format!("/api/v1/stores/SH001/prices/{sku}"),
            Some(&admin),
            json!({"price": "1500000.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}
crate::both_backends!(
    prices_the_engine_cannot_sell_are_refused,
    prices_the_engine_cannot_sell_are_refused
);

/// The product a SKU belongs to.
async fn product_of(app: &TestApp, sku: &str) -> String {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT product_id FROM skus WHERE id = $1")
        .bind(sku)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::Row::get(&row, "product_id")
}

// -------------------------------------------------------------------------------------------
// Device messages from the store bus, generated (the bus is not in the OpenAPI document).
// -------------------------------------------------------------------------------------------

/// Any text, NULs and other control characters included.
fn any_text() -> impl proptest::strategy::Strategy<Value = String> {
    proptest::prelude::any::<String>()
}

/// Status and event payloads with any values in their fields (JSON objects shaped like the
/// messages, their fields any JSON text or number), and raw bytes.
fn device_payloads(store: &'static str) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let id = prop_oneof![
        Just(Uuid::now_v7().to_string()),
        any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
        any_text(),
    ];
    let field = prop_oneof![
        any_text().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
    ];
    let store = prop_oneof![3 => Just(store.to_owned()), 1 => any_text()];
    let event = prop_oneof![
        (
            any_text(),
            prop_oneof![Just("open"), Just("deny"), Just("audit")],
            any_text(),
            any::<u32>()
        )
            .prop_map(|(gate, decision, reason, items)| json!({
                "event": "exit_scan", "gate": gate, "decision": decision, "reason": reason,
                "session_id": Uuid::now_v7(), "item_count": items, "total": "12.50"})),
        (any_text(), any_text()).prop_map(
            |(printer, fault)| json!({"event": "printer_fault", "printer": printer, "fault": fault})
        ),
        Just(json!({"event": "pick_slip_printed", "order_id": Uuid::now_v7()})),
        (prop_oneof![Just("done"), Just("failed")], any_text())
            .prop_map(|(outcome, detail)| json!({"event": "command_ack",
                "command_id": Uuid::now_v7(), "outcome": outcome, "detail": detail})),
        (any_text(), field.clone())
            .prop_map(|(event, value)| json!({"event": event, "gate": value})),
    ];
    let events = (id.clone(), store.clone(), event).prop_map(|(message_id, store, event)| {
        let mut message = json!({"v": 1, "message_id": message_id,
                                 "at": Utc::now().to_rfc3339(), "store": store});
        for (key, value) in event.as_object().unwrap() {
            message[key] = value.clone();
        }
        serde_json::to_vec(&message).unwrap()
    });
    let health = (any_text(), any_text(), any_text())
        .prop_map(|(name, state, detail)| json!({"name": name, "state": state, "detail": detail}));
    let statuses = (
        id,
        store,
        prop_oneof![Just("online"), Just("offline")],
        any_text(),
        proptest::collection::vec(health, 0..3),
    )
        .prop_map(|(message_id, store, status, version, health)| {
            serde_json::to_vec(&json!({"v": 1, "message_id": message_id,
                "at": Utc::now().to_rfc3339(), "store": store, "status": status,
                "version": version, "health": health}))
            .unwrap()
        });
    prop_oneof![
        3 => events,
        2 => statuses,
        1 => proptest::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Issue 15: whatever a device publishes on its own topics — any text in any field (NULs too),
/// any ids, the wrong store, bytes that are not JSON — the server takes the message or refuses
/// it with a reason. It never fails to store one (a failure is not acknowledged, so the device
/// would send the same poisoned message for ever). Found by this test: a NUL in an event's
/// text was such a poisoned message on PostgreSQL (and stored as such on SQLite); messages
/// holding one are now refused on both, like API requests.
async fn device_messages_of_any_shape_are_taken_or_refused(app: TestApp) {
    use proptest::strategy::{Strategy, ValueTree};
    let (device, _) = crate::bus::register_at(&app, "SH001").await;
    let topics = [
        retail_domain::wire::bus::events_topic("SH001", device),
        retail_domain::wire::bus::status_topic("SH001", device),
    ];
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let payloads = device_payloads("SH001");
    // NULs, which one of the databases refuses, in every text field.
    let nul = "A\u{0}B";
    let at = Utc::now().to_rfc3339();
    let chosen: Vec<Vec<u8>> = [
        json!({"event": "printer_fault", "printer": nul, "fault": nul}),
        json!({"event": "exit_scan", "gate": nul, "decision": "deny", "reason": nul}),
        json!({"event": "command_ack", "command_id": Uuid::now_v7(), "outcome": "failed", "detail": nul}),
        json!({"status": "online", "version": nul, "health": [{"name": nul, "state": nul, "detail": nul}]}),
    ]
    .into_iter()
    .map(|fields| {
        let mut message = json!({"v": 1, "message_id": Uuid::now_v7(), "at": at, "store": "SH001"});
        for (key, value) in fields.as_object().unwrap() {
            message[key] = value.clone();
        }
        serde_json::to_vec(&message).unwrap()
    })
    .collect();
    let mut taken = 0;
    for case in 0..400 {
        let payload = match chosen.get(case / 2) {
            Some(payload) => payload.clone(),
            None => payloads.new_tree(&mut runner).unwrap().current(),
        };
        let topic = &topics[case % 2];
        let decision =
            retail_server::app::device_events::decide(&app.state.store, topic, &payload).await;
        if case / 2 < chosen.len() {
            assert!(
                matches!(
                    decision.outcome,
                    retail_server::app::device_events::Outcome::Refused(_)
                ),
                "a NUL is refused on both databases: {:?}",
                decision.outcome
            );
        }
        match decision.outcome {
            retail_server::app::device_events::Outcome::Failed(reason) => panic!(
                "{topic}: {reason}\npayload: {}",
                String::from_utf8_lossy(&payload)
            ),
            retail_server::app::device_events::Outcome::Applied => taken += 1,
            _ => {}
        }
    }
    assert!(taken > 0, "some generated messages are good ones");
}
crate::both_backends!(
    device_messages_of_any_shape_are_taken_or_refused,
    device_messages_of_any_shape_are_taken_or_refused
);

/// Found by the notification reader's property test: a signed notification whose timestamp is
/// far from now (`i64::MIN` has no absolute value) overflowed the freshness check and the
/// handler panicked. Any signed timestamp now gives a clear 400 `stale_notification`, and
/// nothing is paid.
async fn a_signed_notification_with_any_timestamp_is_a_clear_refusal(app: TestApp) {
    let secret = app
        .state
        .keys
        .payment_secret
        .expect("demo mode has the sandbox provider");
    let body = serde_json::to_vec(&json!({
        "notify_id": "fz-1", "payment_id": Uuid::now_v7(), "provider_ref": "ref",
        "amount": "1.00", "status": "succeeded"
    }))
    .unwrap();
    for timestamp in [i64::MIN, i64::MIN + 1, i64::MAX, 0] {
        let signature = retail_server::secrets::payment_signature(&secret, timestamp, &body);
        let response = app
            .client
            .post(format!("{}/api/v1/payments/notify", app.url))
            .header("content-type", "application/json")
            .header("x-pay-timestamp", timestamp.to_string())
            .header("x-pay-signature", signature)
            .body(body.clone())
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{timestamp}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "stale_notification");
    }
}
crate::both_backends!(
    a_signed_notification_with_any_timestamp_is_a_clear_refusal,
    a_signed_notification_with_any_timestamp_is_a_clear_refusal
);
