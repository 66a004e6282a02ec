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
//! Run it alone: `cargo test -p retail-server --test api fuzz -- --nocapture` (needs
//! `pip install schemathesis==4.32.5`; skipped loudly without it, except under `CI=true`).

use reqwest::StatusCode;
use retail_testkit::fuzzer::{FuzzRun, Protected, Schemathesis, StaffLogin};
use retail_testkit::server::DEMO_PASSWORD;
use serde_json::json;
use uuid::Uuid;

use crate::pricing::member_code;
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
async fn column(app: &TestApp, sql: &str) -> Vec<String> {
    let mut tx = app.state.store.begin().await.unwrap();
    let rows = sqlx::query(sql).fetch_all(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    rows.iter()
        .map(|row| sqlx::Row::get::<String, _>(row, 0))
        .collect()
}

/// What the generator is told: dictionaries of real values, the parameters that take them, and
/// the bindings that keep the run's own credentials alive.
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
    let admin = app.login("admin").await;
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
    let mut codes = Vec::new();
    for member in members.iter().take(2) {
        codes.push(member_code(app, &admin, member.parse().unwrap()).await);
    }
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
        ("member_codes".to_owned(), codes),
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

/// Runs Schemathesis with these credentials and fails the test with its report when it found
/// anything.
async fn fuzz_as(
    st: &Schemathesis,
    app: &TestApp,
    username: &str,
    device: &(Uuid, String),
    max_examples: u32,
) {
    let seeds = seeds(app, device.0).await;
    let run = FuzzRun {
        schema_url: format!("{}/api/v1/openapi.json", app.url),
        staff: StaffLogin::Login {
            username: username.into(),
            password: DEMO_PASSWORD.into(),
        },
        device_token: device.1.clone(),
        max_examples: env_or("FUZZ_EXAMPLES", max_examples),
        seed: env_or("FUZZ_SEED", SEED),
        phases: vec!["examples", "coverage", "fuzzing", "stateful"],
        workers: 2,
        dictionaries: seeds.dictionaries,
        bindings: seeds.bindings,
        protected: seeds.protected,
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
    if std::env::var_os("FUZZ_VERBOSE").is_some() {
        eprintln!("{}", outcome.output);
    }
    eprintln!(
        "schemathesis as {username} ({} examples per operation, seed {}): {} in {:.1} s",
        run.max_examples,
        run.seed,
        if outcome.passed { "passed" } else { "FAILED" },
        outcome.elapsed.as_secs_f64()
    );
    assert!(
        outcome.passed,
        "schemathesis ({}) as {username} found failures:\n{}",
        st.version, outcome.output
    );
}

/// Issue 15: the fuzzer over the OpenAPI document finds no 5xx and no answer outside the
/// document, as head office, as a store manager, and as a POS lane.
async fn openapi_document_holds_under_fuzzing(app: TestApp) {
    let Some(st) = Schemathesis::find_or_skip().await else {
        return;
    };
    let device = app
        .register_device("admin", "SH001", "pos", "fuzzer lane")
        .await;
    fuzz_as(&st, &app, "admin", &device, ADMIN_EXAMPLES).await;
    fuzz_as(&st, &app, "mgr.sh001", &device, MANAGER_EXAMPLES).await;
}
crate::both_backends!(
    openapi_document_holds_under_fuzzing,
    openapi_document_holds_under_fuzzing,
    super::generous_limits
);

/// Every request comes from 127.0.0.1 and the fuzzer tries log-ins by the thousand: per-address
/// limits high enough that the run's own log-ins keep working (429s stay documented where
/// they can occur; the limits themselves have their own tests).
fn generous_limits(settings: &mut retail_server::config::Settings) {
    settings.auth.login_attempts_per_minute = 1_000_000;
    settings.auth.login_attempts_per_address_per_minute = 1_000_000;
    settings.auth.login_attempts_per_user_per_minute = 1_000_000;
}
