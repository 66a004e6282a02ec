//! Member tags and segments (issue 19): lane sales dated in the past (the lane's
//! `completed_at`) and online pickup orders placed and paid through the API give exact RFM rows
//! and rule tags, the same again when the job runs again; a segment built in the console counts
//! its members; a win-back coupon issued to it reaches each member once even when the action is
//! sent twice, never a member who opted out of personalisation; notifying it queues one notice
//! per member; store managers and cashiers are refused. One Chromium test creates a segment on
//! the page and sees its count.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use retail_server::app::segments;
use retail_server::storage;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::group_buys::{code_of, count, new_member, stocked_sku};
use crate::sales::{money, new_id, push, register_lane, sku_ids};
use crate::support::TestApp;
use crate::web::{between, console};

const DAY: i64 = 86_400_000;

/// A cash lane sale for `member` of one unit at `list_fen` less `discount_fen`, completed
/// `days_ago` days ago.
fn dated_sale(sku: &str, member: Uuid, list_fen: i64, discount_fen: i64, days_ago: i64) -> Value {
    let total = list_fen - discount_fen;
    json!({
        "id": new_id(), "sale_no": "SH001-01-000001", "store": "SH001", "cashier": "cashier1.sh001",
        "member_id": member,
        "lines": [{"line_no": 1, "sku_id": sku, "barcode": "6900000000000", "name": "item", "qty": 1,
                   "unit_price": money(list_fen), "discount": money(discount_fen), "amount": money(total)}],
        "payments": [{"id": new_id(), "method": "cash", "amount": money(total)}],
        "subtotal": money(list_fen), "discount": money(discount_fen), "total": money(total),
        "completed_at": (Utc::now() - Duration::days(days_ago)).to_rfc3339(), "offline": true,
    })
}

/// An online pickup order of one unit of `sku` by `member`, paid when `paid`: (id, total fen).
async fn pickup_order(app: &TestApp, member: Uuid, sku: Uuid, paid: bool) -> (Uuid, i64) {
    let id = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": id, "fulfilment": "pickup", "store": "SH001",
                   "lines": [{"sku_id": sku, "qty": 1}], "member_code": code_of(app, member)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    if paid {
        crate::bus::pay(app, &id.to_string()).await;
    }
    (id, crate::sales::fen(&body["total"]))
}

fn tags_of(all: &[storage::segments::MemberTag], member: Uuid) -> Vec<(String, i64)> {
    all.iter()
        .filter(|t| t.member_id == member)
        .map(|t| (t.tag.clone(), t.value))
        .collect()
}

fn rfm_of(all: &[storage::segments::Rfm], member: Uuid) -> (i64, i64, i64, i64, i64, i64) {
    let r = all
        .iter()
        .find(|r| r.member_id == member)
        .unwrap_or_else(|| panic!("no RFM row for {member}"));
    (
        r.recency_days,
        r.frequency,
        r.monetary_fen,
        r.r_score,
        r.f_score,
        r.m_score,
    )
}

struct Members {
    lapsed: Uuid,
    online: Uuid,
    big: Uuid,
    opted_out: Uuid,
    online_total: i64,
}

/// The test's members and their purchases (see the assertions in [`scored`]).
async fn shoppers(app: &TestApp) -> Members {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(app, &admin, "SH001", "Segments lane").await;
    let sku = sku_ids(app, &admin, 1).await.remove(0);
    let lapsed = new_member(app, "13900520001").await;
    let online = new_member(app, "13900520002").await;
    let big = new_member(app, "13900520003").await;
    let opted_out = new_member(app, "13900520004").await;
    push(
        app,
        &lane,
        &[
            dated_sale(&sku, lapsed, 10_000, 0, 70),
            dated_sale(&sku, lapsed, 5_000, 0, 90),
            dated_sale(&sku, big, 360_000, 10_000, 3),
            dated_sale(&sku, big, 10_000, 1_000, 5),
            dated_sale(&sku, big, 6_000, 0, 40),
            dated_sale(&sku, opted_out, 2_000, 0, 80),
        ],
    )
    .await;
    let (online_sku, _) = stocked_sku(app, 40).await;
    let (_, a) = pickup_order(app, online, online_sku, true).await;
    let (_, b) = pickup_order(app, online, online_sku, true).await;
    // Never paid: not a purchase.
    pickup_order(app, online, online_sku, false).await;
    retail_server::app::events::set_opt_out(&app.state, opted_out, true)
        .await
        .unwrap();
    Members {
        lapsed,
        online,
        big,
        opted_out,
        online_total: a + b,
    }
}

fn off(s: &mut retail_server::config::Settings) {
    s.segments.every_secs = 0;
}

/// Exact RFM rows and tags over lane sales (all channels' paid orders) and paid online pickup
/// orders; the job run again at the same moment writes exactly the same rows.
async fn scored(app: TestApp) {
    let m = shoppers(&app).await;
    let now = storage::now_ms();
    let report = segments::compute(&app.state, now).await.unwrap();
    assert!(report.members >= 4, "{report:?}");
    let rfm = storage::segments::all_rfm(&app.state.store).await.unwrap();
    let tags = storage::segments::tags(&app.state.store, None)
        .await
        .unwrap();

    // 70 and 90 days ago, ¥100 + ¥50: R 1 (over 60 days), F 2, M 2; lapsed.
    assert_eq!(rfm_of(&rfm, m.lapsed), (70, 2, 15_000, 1, 2, 2));
    assert_eq!(tags_of(&tags, m.lapsed), vec![("lapsed_60".into(), 70)]);
    // Two paid pickup orders today (the unpaid third does not count): new, pickup-first.
    let m_score = segments::score_up(m.online_total, &app.state.settings.segments.monetary_fen);
    assert_eq!(
        rfm_of(&rfm, m.online),
        (0, 2, m.online_total, 5, 2, m_score)
    );
    assert_eq!(
        tags_of(&tags, m.online),
        vec![("new".into(), 0), ("pickup_first".into(), 100)]
    );
    // ¥3500 (discounted), ¥90 (discounted), ¥60: R 5, F 2, M 5; two deals of three orders.
    assert_eq!(rfm_of(&rfm, m.big), (3, 3, 365_000, 5, 2, 5));
    assert_eq!(
        tags_of(&tags, m.big),
        vec![("bargain_hunter".into(), 66), ("high_value".into(), 5)]
    );
    assert_eq!(rfm_of(&rfm, m.opted_out), (80, 1, 2_000, 1, 1, 1));
    assert_eq!(tags_of(&tags, m.opted_out), vec![("lapsed_60".into(), 80)]);

    // The member's page in the console shows them.
    let mut admin = console(&app, "admin").await;
    let page = admin.get(&format!("/console/members/{}", m.big)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("R 5 · F 2 · M 5"), "{}", page.body);
    assert!(page.body.contains("data-tag=\"high_value\""));

    // Run again at the same moment: exactly the same rows.
    segments::compute(&app.state, now).await.unwrap();
    assert_eq!(
        storage::segments::all_rfm(&app.state.store).await.unwrap(),
        rfm
    );
    assert_eq!(
        storage::segments::tags(&app.state.store, None)
            .await
            .unwrap(),
        tags
    );
    // 31 days on, the new member is new no more; 61 days on they have lapsed.
    segments::compute(&app.state, now + 31 * DAY).await.unwrap();
    let later = storage::segments::tags(&app.state.store, Some(m.online))
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|t| t.tag.as_str()).collect::<Vec<_>>(),
        vec!["pickup_first"]
    );
    segments::compute(&app.state, now + 61 * DAY).await.unwrap();
    let later = storage::segments::tags(&app.state.store, Some(m.online))
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|t| t.tag.as_str()).collect::<Vec<_>>(),
        vec!["lapsed_60", "pickup_first"]
    );
}
crate::both_backends!(scored, scored, super::off);

/// A coupon template head office issues by hand.
async fn win_back_template(app: &TestApp) -> Uuid {
    let admin = app.login("admin").await;
    let id = retail_domain::ids::new_id();
    let (status, body) = app
        .post(
            "/api/v1/coupon-templates",
            Some(&admin),
            json!({"id": id,
                "terms": {"name_zh": "回归券", "name_en": "Welcome back", "rule": {"kind": "no_threshold", "amount": "5.00"},
                    "stacks_with_promotions": true},
                "issue_on": "staff", "valid_from": Utc::now() - Duration::hours(1),
                "valid_until": Utc::now() + Duration::days(30), "per_member_limit": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

/// A segment of lapsed members made in the console: its count; a win-back coupon issued to it
/// twice with the same action (each member once), again with a new action (refused by the
/// per-member limit); the opted-out member never reached; a notification once per member;
/// store managers and cashiers refused.
async fn win_back(app: TestApp) {
    let mut admin = console(&app, "admin").await;
    let rules = segments::SegmentRules {
        all_of: vec!["lapsed_60".into()],
        none_of: vec!["high_value".into()],
        r: Some(segments::ScoreRange { min: 1, max: 2 }),
        ..Default::default()
    };
    // Members of the demo chain the segment takes, if any, before the test's own are scored.
    segments::compute(&app.state, storage::now_ms())
        .await
        .unwrap();
    let (before, before_reachable) = (
        segments::count(&app.state, &rules, false).await.unwrap(),
        segments::count(&app.state, &rules, true).await.unwrap(),
    );
    // Scored again with the test's members (the demo's members unchanged).
    let m = shoppers(&app).await;
    segments::compute(&app.state, storage::now_ms())
        .await
        .unwrap();

    let id = Uuid::now_v7().to_string();
    let page = admin
        .post_csrf(
            "/console/segments",
            &[
                ("id", &id),
                ("name", "Lapsed"),
                ("all_of", "lapsed_60"),
                ("none_of", "high_value"),
                ("r_max", "2"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let path = format!("/console/segments/{id}");
    assert_eq!(page.location.as_deref(), Some(&*format!("{path}?done=1")));
    // Without the CSRF token: refused.
    let page = admin
        .post(
            "/console/segments",
            &[
                ("id", &*Uuid::now_v7().to_string()),
                ("name", "x"),
                ("all_of", "new"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    let shown: i64 = between(&page.body, "id=\"segment-count\">", "<")
        .parse()
        .unwrap();
    let reachable: i64 = between(&page.body, "id=\"segment-reachable\">", "<")
        .parse()
        .unwrap();
    assert_eq!((shown, reachable), (before + 2, before_reachable + 1));
    assert!(page.body.contains("139****0001"), "masked preview");
    assert!(!page.body.contains("13900520001"), "never the whole number");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'segment.create' AND entity_id = $1",
            &id
        )
        .await,
        1
    );

    // The win-back coupon, sent twice with the same action id.
    let template = win_back_template(&app).await;
    let action = Uuid::now_v7().to_string();
    let template_text = template.to_string();
    for _ in 0..2 {
        let page = admin
            .post_csrf(
                &format!("{path}/coupon"),
                &[("action_id", &action), ("template_id", &template_text)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(page.location.as_deref(), Some(&*format!("{path}?done=1")));
    }
    let held = |member: Uuid| {
        let app = &app;
        async move {
            count(
                app,
                &format!(
                    "SELECT COUNT(*) FROM coupons WHERE template_id = '{template}' AND member_id = $1"
                ),
                &member.to_string(),
            )
            .await
        }
    };
    assert_eq!(held(m.lapsed).await, 1);
    assert_eq!(held(m.opted_out).await, 0, "opted out of personalisation");
    assert_eq!(held(m.big).await, 0);
    assert_eq!(held(m.online).await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM coupons WHERE template_id = $1",
            &template_text
        )
        .await,
        before_reachable + 1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM segment_action_members WHERE action_id = $1 AND outcome = 'issued'",
            &action
        )
        .await,
        before_reachable + 1
    );
    // A new action for the same segment: the template's limit of one refuses each member.
    let again = Uuid::now_v7().to_string();
    let page = admin
        .post_csrf(
            &format!("{path}/coupon"),
            &[("action_id", &again), ("template_id", &template_text)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(held(m.lapsed).await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM segment_action_members WHERE action_id = $1 AND outcome = 'refused:coupon_limit'",
            &again
        )
        .await,
        before_reachable + 1
    );

    // Notify the segment, twice with the same action: one notice per member.
    let note = Uuid::now_v7().to_string();
    for _ in 0..2 {
        let page = admin
            .post_csrf(
                &format!("{path}/notify"),
                &[
                    ("action_id", &note),
                    ("text_zh", "好久不见，送您一张券"),
                    ("text_en", ""),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }
    let notices = |member: Uuid| {
        let app = &app;
        async move {
            count(
                app,
                "SELECT COUNT(*) FROM account_notices WHERE kind = 'campaign' AND member_id = $1",
                &member.to_string(),
            )
            .await
        }
    };
    assert_eq!(notices(m.lapsed).await, 1);
    assert_eq!(notices(m.opted_out).await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM notification_outbox WHERE kind = 'campaign' AND member_id = $1",
            &m.lapsed.to_string()
        )
        .await,
        2,
        "one outbox row per outside channel (delivered by the member's preferences)"
    );
    let page = admin.get(&path).await;
    assert!(page.body.contains("refused:coupon_limit"));

    // Store managers and cashiers: refused.
    for user in ["mgr.sh001", "cashier1.sh001"] {
        let mut b = console(&app, user).await;
        assert_eq!(
            b.get("/console/segments").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(b.get(&path).await.status, StatusCode::FORBIDDEN);
        let page = b
            .post_csrf(
                &format!("{path}/coupon"),
                &[
                    ("action_id", &*Uuid::now_v7().to_string()),
                    ("template_id", &template_text),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(held(m.lapsed).await, 1);
}
crate::both_backends!(win_back, win_back, super::off);

/// In a real browser (SQLite): head office creates a segment of lapsed members on the page and
/// sees its member count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_creates_a_segment_in_the_browser() {
    use crate::browser::{
        browser, browser_available, click_to_next_page, console_login, start_driver, text_of,
        type_into, Shots,
    };
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, off)
        .await
        .expect("app");
    shoppers(&app).await;
    segments::compute(&app.state, storage::now_ms())
        .await
        .unwrap();
    let rules = segments::SegmentRules {
        all_of: vec!["lapsed_60".into()],
        ..Default::default()
    };
    let expected = segments::count(&app.state, &rules, false).await.unwrap();
    assert!(expected >= 2);
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let client = browser(&driver, false).await;
    console_login(&client, &app, "admin").await;
    client
        .goto(&format!("{}/console/segments", app.url))
        .await
        .unwrap();
    assert!(text_of(&client, "#tags").await.contains("lapsed_60"));
    type_into(&client, "#name", "Lapsed members").await;
    type_into(&client, "#all_of", "lapsed_60").await;
    click_to_next_page(&client, "#save-segment").await;
    let count: i64 = text_of(&client, "#segment-count").await.parse().unwrap();
    assert_eq!(count, expected);
    assert!(text_of(&client, "#segment-preview")
        .await
        .contains("139****0001"));
    shots.take(&client, "console-segment").await;
    client
        .goto(&format!("{}/console/segments", app.url))
        .await
        .unwrap();
    assert!(text_of(&client, "#segments")
        .await
        .contains("Lapsed members"));
    client.close().await.unwrap();
}
