//! Merchant settlement (issue 20): two merchants admitted through the API, their products in two
//! categories with different commission rates (one merchant's own, the others the default `*`),
//! pickup orders paid today and one cancelled and refunded; today's statements built once (a
//! second build writes nothing) with exact figures and lines, frozen then settleable after the
//! after-sale window, paid out once (idempotent with the same reference, refused while frozen
//! or with another), a merchant administrator seeing only its own statements (another's is
//! 404), the CSV file byte for byte, and the console's settlement pages.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::merchants::{trading_merchant as merchant, NEW_PASSWORD};
use crate::support::TestApp;
use crate::web::Browser;
use retail_server::app::merchant_statements as statements;

const CHIPS: &str = "FOOD-SNACK-CHIPS";
const MILK: &str = "FOOD-DAIRY-MILK";

/// A merchant's product with one SKU at `price`, reviewed, on the shelf and stocked at SH001:
/// the SKU's id.
async fn product(
    app: &TestApp,
    admin: &str,
    seller: &str,
    code: &str,
    category: &str,
    price: &str,
) -> String {
    crate::merchants::listed_product(app, admin, seller, code, category, price, "SH001").await
}

/// A pickup order at SH001 of `lines` (SKU, quantity), paid through the sandbox: its id.
async fn paid_order(app: &TestApp, lines: &[(&str, i64)]) -> String {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, qty)| json!({"sku_id": sku, "qty": qty}))
        .collect();
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001", "lines": lines}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    crate::bus::pay(app, &id).await;
    id
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sql)
        .fetch_one(&mut *app.state.store.begin().await.unwrap())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// Builds every due day as of `now` until nothing is left (a long demo history takes several
/// runs); the statements written.
async fn build_all(app: &TestApp, now: i64) -> u64 {
    let mut written = 0;
    loop {
        let built = statements::build_due(&app.state, now).await.unwrap();
        written += built.statements;
        if built.days == 0 {
            return written;
        }
    }
}

fn china_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .with_timezone(&retail_server::app::china_offset())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// (kind, order id, sku, amount, rate, commission) of each line.
fn line_summary(lines: &Value) -> Vec<(String, String, String, i64, i64, i64)> {
    lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["order_id"].as_str().unwrap().to_owned(),
                l["sku_id"].as_str().unwrap().to_owned(),
                l["amount_fen"].as_i64().unwrap(),
                l["rate_bp"].as_i64().unwrap(),
                l["commission_fen"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn statements_are_built_once_frozen_and_paid_out(app: TestApp) {
    let admin = app.login("admin").await;
    let alpha = merchant(&app, &admin, "m-alpha", "alpha.admin").await;
    let beta = merchant(&app, &admin, "m-beta", "beta.admin").await;
    // Chips: 5 % by default, 8 % for m-alpha; milk: 3 % by default.
    for (m, c, rate) in [("*", CHIPS, 500), ("m-alpha", CHIPS, 800), ("*", MILK, 300)] {
        let (status, body) = app
            .put(
                "/api/v1/commission-rates",
                Some(&admin),
                json!({"merchant_id": m, "category_id": c, "rate_bp": rate}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let a_chips = product(&app, &admin, &alpha, "M70001", CHIPS, "12.50").await;
    let a_milk = product(&app, &admin, &alpha, "M70002", MILK, "8.80").await;
    let b_chips = product(&app, &admin, &beta, "M70003", CHIPS, "6.00").await;

    // One order of both merchants, kept; another of both, cancelled after payment and refunded.
    let kept = paid_order(&app, &[(&a_chips, 2), (&b_chips, 1), (&a_milk, 1)]).await;
    let cancelled = paid_order(&app, &[(&a_chips, 1), (&b_chips, 1)]).await;
    let manager = app.login("mgr.sh001").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{cancelled}/cancel"),
            Some(&manager),
            json!({"reason": "缺货"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refunded_sql = format!(
        "SELECT COUNT(*) FROM payment_refunds WHERE state = 'success' AND order_id = '{cancelled}'"
    );
    retail_testkit::wait_until(
        "the refund paid back",
        std::time::Duration::from_secs(60),
        || async { count(&app, &refunded_sql).await == 1 },
    )
    .await;

    // Today's statements, built once the day has ended.
    let now = retail_server::storage::now_ms();
    let today = retail_server::app::china_day(now);
    let day = statements::day_text(today);
    let after_day = statements::day_start(today + 1) + statements::BUILD_GRACE_MS;
    assert!(build_all(&app, after_day).await >= 2);
    let all = count(&app, "SELECT COUNT(*) FROM merchant_statements").await;
    let all_lines = count(&app, "SELECT COUNT(*) FROM merchant_statement_lines").await;
    assert_eq!(build_all(&app, after_day).await, 0, "built once");
    assert_eq!(
        statements::build_due(&app.state, after_day + 3_600_000)
            .await
            .unwrap(),
        statements::Built::default()
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM merchant_statements").await,
        all
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM merchant_statement_lines").await,
        all_lines
    );

    // m-alpha: chips 2 × 12.50 at 8 % (200), milk 8.80 at 3 % (26.4 → 26), chips 12.50 at 8 %
    // (100), its refund −12.50 giving back 100.
    let (status, list) = app
        .get(
            &format!("/api/v1/merchant-statements?merchant=m-alpha&from={day}&to={day}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let a = &list[0];
    assert_eq!(
        (
            &a["period_day"],
            &a["paid_fen"],
            &a["refunded_fen"],
            &a["commission_fen"],
            &a["net_fen"],
            &a["line_count"],
            &a["status"],
        ),
        (
            &json!(day),
            &json!(4630),
            &json!(1250),
            &json!(226),
            &json!(3154),
            &json!(4),
            &json!("frozen")
        )
    );
    let a_id = a["id"].as_str().unwrap().to_owned();
    let (status, detail) = app
        .get(&format!("/api/v1/merchant-statements/{a_id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(
        line_summary(&detail["lines"]),
        vec![
            ("sale".into(), kept.clone(), a_chips.clone(), 2500, 800, 200),
            ("sale".into(), kept.clone(), a_milk.clone(), 880, 300, 26),
            (
                "sale".into(),
                cancelled.clone(),
                a_chips.clone(),
                1250,
                800,
                100
            ),
            (
                "refund".into(),
                cancelled.clone(),
                a_chips.clone(),
                -1250,
                800,
                -100
            ),
        ]
    );
    assert!(detail["lines"][3]["refund_id"].is_string());
    assert!(detail["lines"][0]["refund_id"].is_null());
    // Frozen until the end of the day plus the after-sale window (7 days).
    let frozen_until = statements::day_start(today + 1) + 7 * 86_400_000;
    assert_eq!(detail["frozen_until"], json!(frozen_until));

    // m-beta: chips 6.00 twice at the default 5 % (30 each), one refunded.
    let (status, b_list) = app
        .get("/api/v1/merchant-statements?merchant=m-alpha", Some(&beta))
        .await;
    assert_eq!(status, StatusCode::OK, "{b_list}");
    let b_list = b_list.as_array().unwrap();
    assert_eq!(b_list.len(), 1, "only its own, whatever it asks for");
    let b = &b_list[0];
    assert_eq!(b["merchant_id"], json!("m-beta"));
    assert_eq!(
        (
            &b["paid_fen"],
            &b["refunded_fen"],
            &b["commission_fen"],
            &b["net_fen"]
        ),
        (&json!(1200), &json!(600), &json!(30), &json!(570))
    );
    let b_id = b["id"].as_str().unwrap().to_owned();
    let (status, b_detail) = app
        .get(&format!("/api/v1/merchant-statements/{b_id}"), Some(&beta))
        .await;
    assert_eq!(status, StatusCode::OK, "{b_detail}");
    assert_eq!(
        line_summary(&b_detail["lines"]),
        vec![
            ("sale".into(), kept.clone(), b_chips.clone(), 600, 500, 30),
            (
                "sale".into(),
                cancelled.clone(),
                b_chips.clone(),
                600,
                500,
                30
            ),
            (
                "refund".into(),
                cancelled.clone(),
                b_chips.clone(),
                -600,
                500,
                -30
            ),
        ]
    );
    // Another merchant's statement is not found for m-beta's administrator; payout is head
    // office's.
    for path in [
        format!("/api/v1/merchant-statements/{a_id}"),
        format!("/api/v1/merchant-statements/{a_id}/csv"),
    ] {
        let (status, _) = app.get(&path, Some(&beta)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/merchant-statements/{b_id}/payout"),
            Some(&beta),
            json!({"reference": "X"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Store staff see no statements at all.
    let (status, _) = app.get("/api/v1/merchant-statements", Some(&manager)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The CSV, byte for byte.
    let resp = app
        .client
        .get(format!("{}/api/v1/merchant-statements/{b_id}/csv", app.url))
        .bearer_auth(&beta)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let bytes = resp.bytes().await.unwrap();
    let l = &b_detail["lines"];
    let row = |i: usize, amount: &str, commission: &str, net: &str| {
        format!(
            "{},{},{},{},{},{b_chips},{CHIPS},1,{amount},500,{commission},{net},{}\n",
            i + 1,
            l[i]["kind"].as_str().unwrap(),
            l[i]["order_no"].as_str().unwrap(),
            l[i]["order_line_no"],
            l[i]["refund_id"].as_str().unwrap_or(""),
            china_time(l[i]["at"].as_i64().unwrap()),
        )
    };
    let mut expected = vec![0xEF_u8, 0xBB, 0xBF];
    expected.extend_from_slice(
        format!(
            "line_no,kind,order_no,order_line_no,refund_id,sku_id,category_id,qty,amount_yuan,rate_bp,commission_yuan,net_yuan,at\n\
             {}{}{}total,,m-beta,,,,{day},3,6.00,,0.30,5.70,\n",
            row(0, "6.00", "0.30", "5.70"),
            row(1, "6.00", "0.30", "5.70"),
            row(2, "-6.00", "-0.30", "-5.70"),
        )
        .as_bytes(),
    );
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(bytes.as_ref(), expected.as_slice());

    // Frozen: no payout yet.
    let (status, body) = app
        .post(
            &format!("/api/v1/merchant-statements/{a_id}/payout"),
            Some(&admin),
            json!({"reference": "TX-0001"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Settleable once the window has closed: read so at once, stored by the job.
    let at_close = statements::list(
        &app.state.store,
        &retail_server::storage::staff::session_actor(
            &app.state.store,
            &retail_server::secrets::token_hash(&admin),
        )
        .await
        .unwrap()
        .unwrap(),
        &statements::ListQuery {
            merchant: Some("m-alpha".into()),
            ..Default::default()
        },
        frozen_until,
    )
    .await
    .unwrap();
    assert_eq!(
        at_close[0].status,
        retail_server::storage::merchant_statements::StatementStatus::Settleable
    );
    statements::release_due(&app.state.store, frozen_until - 1)
        .await
        .unwrap();
    let alpha_frozen = format!(
        "SELECT COUNT(*) FROM merchant_statements WHERE id = '{a_id}' AND status = 'frozen'"
    );
    assert_eq!(
        count(&app, &alpha_frozen).await,
        1,
        "still inside the window"
    );
    assert!(
        statements::release_due(&app.state.store, frozen_until)
            .await
            .unwrap()
            >= 2
    );
    let (_, a_now) = app
        .get(&format!("/api/v1/merchant-statements/{a_id}"), Some(&admin))
        .await;
    assert_eq!(a_now["status"], json!("settleable"));

    // Paid out once; the same reference again changes nothing; another is refused.
    let (status, paid) = app
        .post(
            &format!("/api/v1/merchant-statements/{a_id}/payout"),
            Some(&admin),
            json!({"reference": "TX-0001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], json!("paid_out"));
    assert_eq!(paid["payout_ref"], json!("TX-0001"));
    let (status, again) = app
        .post(
            &format!("/api/v1/merchant-statements/{a_id}/payout"),
            Some(&admin),
            json!({"reference": "TX-0001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["paid_out_at"], paid["paid_out_at"]);
    let (status, body) = app
        .post(
            &format!("/api/v1/merchant-statements/{a_id}/payout"),
            Some(&admin),
            json!({"reference": "TX-0002"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app
        .post(
            &format!("/api/v1/merchant-statements/{b_id}/payout"),
            Some(&admin),
            json!({"reference": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'merchant_statement.payout' AND entity_id = '{a_id}'"
            )
        )
        .await,
        1
    );

    // The console: m-beta's administrator logs in, lands on its statements and sees its net
    // only; head-office pages refuse it; head office sees m-alpha's statement with the payout.
    let mut b_console = Browser::new(&app);
    let page = b_console
        .post_csrf(
            "/console/login",
            &[
                ("username", "beta.admin"),
                ("password", NEW_PASSWORD),
                ("back", "/console"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = b_console.get("/console").await;
    assert_eq!(page.location.as_deref(), Some("/console/merchant"));
    let page = b_console.get("/console/settlements").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&b_id), "{}", page.body);
    assert!(page.body.contains("¥5.70"), "{}", page.body);
    assert!(!page.body.contains(&a_id));
    assert!(
        !page.body.contains("/console/catalog\""),
        "no head-office links"
    );
    let page = b_console.get(&format!("/console/settlements/{a_id}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = b_console
        .get(&format!("/console/settlements/{b_id}/csv"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let page = b_console.get("/console/payments/settlements").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let mut office = crate::web::console(&app, "admin").await;
    let page = office
        .get(&format!(
            "/console/settlements?merchant=m-alpha&from={day}&to={day}"
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("¥31.54"), "{}", page.body);
    let page = office.get(&format!("/console/settlements/{b_id}")).await;
    assert!(page.body.contains("id=\"payout-form\""), "{}", page.body);
    let page = office
        .post_csrf(
            &format!("/console/settlements/{b_id}/payout"),
            &[("reference", "TX-0003")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (_, b_now) = app
        .get(&format!("/api/v1/merchant-statements/{b_id}"), Some(&admin))
        .await;
    assert_eq!(b_now["status"], json!("paid_out"));
    assert_eq!(b_now["payout_ref"], json!("TX-0003"));

    // In a real browser: m-beta's administrator logs in to the console and reads its net.
    if crate::browser::browser_available() {
        use crate::browser::{
            browser, click_to_next_page, start_driver, text_of, type_into, wait_path,
        };
        let driver = start_driver().await;
        let client = browser(&driver, false).await;
        client
            .goto(&format!(
                "{}/console/login?back=/console/settlements",
                app.url
            ))
            .await
            .unwrap();
        type_into(&client, "#username", "beta.admin").await;
        type_into(&client, "#password", NEW_PASSWORD).await;
        click_to_next_page(&client, "form button[type=submit]").await;
        wait_path(&client, "/console/settlements").await;
        let net = text_of(&client, &format!("tr[data-id=\"{b_id}\"] td.net")).await;
        assert_eq!(net, "¥5.70");
        client.close().await.unwrap();
    }
}
crate::both_backends!(
    statements_are_built_once_frozen_and_paid_out,
    statements_are_built_once_frozen_and_paid_out
);
