//! Member perks (issue 17): the daily check-in — once a day however often it is asked, the
//! streak bonus every N days in a row — and the birthday perk, set once by the member and
//! granted by the sweeper once a year in its month (never for a birthday set in that month);
//! head office's rules; bad input changes nothing.

use reqwest::StatusCode;
use retail_domain::codes::SignedCode;
use retail_server::app::member_perks;
use retail_server::storage;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;
use crate::web::{between, shopper};

async fn member_of(app: &TestApp, phone: &str) -> Uuid {
    let s = &app.state;
    storage::members::by_phone(&s.store, &s.keys, &s.settings.points, phone)
        .await
        .unwrap()
        .expect("a member")
        .id
}

fn code_of(app: &TestApp, member: Uuid) -> String {
    app.sign(&SignedCode::Member(storage::members::member_code(
        member,
        chrono::Utc::now(),
        300,
    )))
}

/// A request as a member (their member code in `X-Member-Code`).
pub(crate) async fn as_member(
    app: &TestApp,
    member: Uuid,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.url))
        .header("x-member-code", code_of(app, member));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `n` check-ins of `member` through the API at once; their answers.
async fn checkins_at_once(app: &TestApp, member: Uuid, n: usize) -> Vec<(StatusCode, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, url, code) = (app.client.clone(), app.url.clone(), code_of(app, member));
        tasks.spawn(async move {
            let resp = client
                .post(format!("{url}/api/v1/members/me/checkin"))
                .header("x-member-code", code)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut answers = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        answers.push(done.unwrap());
    }
    answers
}

/// A staff-issued coupon template (¥`yuan` off, no threshold) valid for `days` more days.
async fn coupon_template(app: &TestApp, name: &str, yuan: &str, days: i64, limit: i64) -> Uuid {
    let admin = app.login("admin").await;
    let id = retail_domain::ids::new_id();
    let (status, body) = app
        .post(
            "/api/v1/coupon-templates",
            Some(&admin),
            json!({"id": id,
                "terms": {"name_zh": name, "name_en": name, "rule": {"kind": "no_threshold", "amount": yuan},
                    "stacks_with_promotions": true},
                "issue_on": "staff", "valid_from": chrono::Utc::now() - chrono::Duration::hours(1),
                "valid_until": chrono::Utc::now() + chrono::Duration::days(days), "per_member_limit": limit}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

async fn exec(app: &TestApp, sql: &str, binds: &[&str]) {
    let mut tx = app.state.store.begin().await.unwrap();
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(b.to_string());
    }
    q.execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn checkins_and_their_streak(app: TestApp) {
    let phone = "13900180001";
    let mut b = shopper(&app, phone).await;
    let member = member_of(&app, phone).await;
    let points = storage::members::points_balance(&app.state.store, member)
        .await
        .unwrap();
    let (growth, _) = storage::members::growth_and_points(&app.state.store, member)
        .await
        .unwrap()
        .unwrap();

    // In the member centre: one check-in, +5 points and +1 growth; again: nothing more.
    let page = b.get("/me").await;
    assert!(page.body.contains("id=\"checkin\""), "{}", page.body);
    let done = b.post_csrf("/me/checkin", &[]).await;
    assert_eq!(done.location.as_deref(), Some("/me?perk=checked_in#perks"));
    let again = b.post_csrf("/me/checkin", &[]).await;
    assert_eq!(again.location.as_deref(), Some("/me?perk=already#perks"));
    let page = b.get("/me?perk=checked_in").await;
    assert!(page.body.contains("今日已签到"), "the button says so");
    assert!(between(&page.body, "id=\"streak\">", "<").contains('1'));
    assert_eq!(
        storage::members::points_balance(&app.state.store, member)
            .await
            .unwrap(),
        points + 5
    );
    let (growth_now, _) = storage::members::growth_and_points(&app.state.store, member)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(growth_now, growth + 1);
    // Through the API too, many at once: still one.
    let answers = checkins_at_once(&app, member, 8).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["new"], false, "{body}");
    }
    assert_eq!(
        storage::members::points_balance(&app.state.store, member)
            .await
            .unwrap(),
        points + 5
    );

    // Another member racing with themselves: exactly one check-in, one reward.
    let other = member_of(&app, "13900180001").await;
    assert_eq!(other, member);
    let fresh = {
        shopper(&app, "13900180002").await;
        member_of(&app, "13900180002").await
    };
    let before = storage::members::points_balance(&app.state.store, fresh)
        .await
        .unwrap();
    let answers = checkins_at_once(&app, fresh, 8).await;
    let new = answers.iter().filter(|(_, b)| b["new"] == true).count();
    assert_eq!(new, 1, "{answers:?}");
    assert_eq!(
        storage::members::points_balance(&app.state.store, fresh)
            .await
            .unwrap(),
        before + 5
    );

    // Six days in a row before today: today is the seventh, +5 and the 20-point bonus.
    let streaker = {
        shopper(&app, "13900180003").await;
        member_of(&app, "13900180003").await
    };
    let today = retail_server::app::china_day(storage::now_ms());
    for back in 1..=6_i64 {
        exec(
            &app,
            "INSERT INTO member_checkins (member_id, day, streak, points, growth, created_at) \
             VALUES ($1, CAST($2 AS BIGINT), CAST($3 AS BIGINT), 5, 1, 0)",
            &[
                &streaker.to_string(),
                &(today - back).to_string(),
                &(7 - back).to_string(),
            ],
        )
        .await;
    }
    let before = storage::members::points_balance(&app.state.store, streaker)
        .await
        .unwrap();
    let (status, body) = as_member(
        &app,
        streaker,
        reqwest::Method::POST,
        "/api/v1/members/me/checkin",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["checkin"]["streak"].as_i64(),
            body["checkin"]["points"].as_i64()
        ),
        (Some(7), Some(25)),
        "{body}"
    );
    assert_eq!(
        storage::members::points_balance(&app.state.store, streaker)
            .await
            .unwrap(),
        before + 25
    );
    let (_, perks) = as_member(
        &app,
        streaker,
        reqwest::Method::GET,
        "/api/v1/members/me/perks",
        None,
    )
    .await;
    assert_eq!(perks["streak"], 7, "{perks}");
    assert_eq!(perks["checkins"].as_array().unwrap().len(), 7, "{perks}");
    // Without a member code: 401.
    let resp = app
        .client
        .post(format!("{}/api/v1/members/me/checkin", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
crate::both_backends!(checkins_and_their_streak, checkins_and_their_streak);

async fn birthdays_once_a_year_in_their_month(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    // Head office names a birthday coupon (¥5 off).
    let template = coupon_template(&app, "生日券", "5.00", 60, 5).await;
    let (_, mut rules) = app.get("/api/v1/member-perks/rules", Some(&admin)).await;
    rules["birthday_coupon_template_id"] = json!(template);
    let (status, _) = app
        .put("/api/v1/member-perks/rules", Some(&manager), rules.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (field, bad) in [
        ("checkin_points", json!(-1)),
        ("streak_days", json!(40)),
        ("birthday_coupon_template_id", json!(Uuid::now_v7())),
    ] {
        let mut wrong = rules.clone();
        wrong[field] = bad;
        let (status, body) = app
            .put("/api/v1/member-perks/rules", Some(&admin), wrong)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert!(body["error"]["fields"][field].is_string(), "{body}");
    }
    let (status, saved) = app
        .put("/api/v1/member-perks/rules", Some(&admin), rules.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["birthday_coupon_template_id"], json!(template));

    // A member sets their birthday in the member centre: once.
    let mut b = shopper(&app, "13900180011").await;
    let member = member_of(&app, "13900180011").await;
    let bad = b.post_csrf("/me/birthday", &[("birthday", "02-30")]).await;
    assert_eq!(bad.location.as_deref(), Some("/me?perk=birthday_bad#perks"));
    let month = retail_server::app::china_offset();
    let now = chrono::Utc::now().with_timezone(&month);
    let this_month = format!("{:02}-01", chrono::Datelike::month(&now));
    let set = b
        .post_csrf("/me/birthday", &[("birthday", &this_month)])
        .await;
    assert_eq!(set.location.as_deref(), Some("/me?perk=birthday_set#perks"));
    let again = b.post_csrf("/me/birthday", &[("birthday", "05-20")]).await;
    assert_eq!(
        again.location.as_deref(),
        Some("/me?perk=birthday_locked#perks")
    );
    let (status, body) = as_member(
        &app,
        member,
        reqwest::Method::PUT,
        "/api/v1/members/me/birthday",
        Some(json!({"birthday": "05-20"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("birthday_set"))
    );
    assert_eq!(
        member_perks::birthday(&app.state, member)
            .await
            .unwrap()
            .as_deref(),
        Some(this_month.as_str())
    );

    // Set this month: no perk this year (no perk for moving the birthday to now).
    assert_eq!(member_perks::grant_birthdays(&app.state).await.unwrap(), 0);
    // Set long ago: the perk, once — 100 points and the coupon.
    exec(
        &app,
        "UPDATE members SET birthday_set_at = 0 WHERE id = $1",
        &[&member.to_string()],
    )
    .await;
    let before = storage::members::points_balance(&app.state.store, member)
        .await
        .unwrap();
    assert_eq!(member_perks::grant_birthdays(&app.state).await.unwrap(), 1);
    assert_eq!(
        member_perks::grant_birthdays(&app.state).await.unwrap(),
        0,
        "once a year"
    );
    assert_eq!(
        storage::members::points_balance(&app.state.store, member)
            .await
            .unwrap(),
        before + 100
    );
    let coupons = storage::coupons::usable(&app.state.store, member)
        .await
        .unwrap();
    assert_eq!(
        coupons
            .iter()
            .filter(|c| c.template_id.to_string() == template.to_string())
            .count(),
        1
    );
    let page = b.get("/me").await;
    assert!(
        between(&page.body, "id=\"birthday-perk\"", "</span>").contains("100"),
        "{}",
        page.body
    );
    let page = b.get("/me/messages").await;
    assert_eq!(
        page.body.matches("生日快乐").count(),
        1,
        "told once: {}",
        page.body
    );
    assert!(page.body.contains("生日礼已送达：100"), "{}", page.body);
    // Another month's birthday: nothing now.
    let mut other = shopper(&app, "13900180012").await;
    let other_member = member_of(&app, "13900180012").await;
    let next = chrono::Datelike::month(&now) % 12 + 1;
    other
        .post_csrf("/me/birthday", &[("birthday", &format!("{next:02}-15"))])
        .await;
    exec(
        &app,
        "UPDATE members SET birthday_set_at = 0 WHERE id = $1",
        &[&other_member.to_string()],
    )
    .await;
    assert_eq!(member_perks::grant_birthdays(&app.state).await.unwrap(), 0);
    // Deleting the account clears the birthday.
    let page = other
        .post_csrf("/me/delete", &[("confirm", "DELETE")])
        .await;
    assert!(page.status.is_redirection() || page.status.is_success());
    assert_eq!(
        member_perks::birthday(&app.state, other_member)
            .await
            .unwrap(),
        None
    );
    // Audited rules.
    let (_, audit) = app.get("/api/v1/audit?limit=200", Some(&admin)).await;
    let rules_changes = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "member_perks.rules")
        .count();
    assert_eq!(rules_changes, 1, "{audit}");
}
crate::both_backends!(
    birthdays_once_a_year_in_their_month,
    birthdays_once_a_year_in_their_month
);

/// A member is told once, in the message centre, of an unused coupon that expires within the
/// configured days; not of one expiring later.
async fn members_are_told_of_coupons_about_to_expire(app: TestApp) {
    let admin = app.login("admin").await;
    let mut b = shopper(&app, "13900180021").await;
    let member = member_of(&app, "13900180021").await;
    for (days, name) in [(2, "两天后过期券"), (10, "十天后过期券")] {
        let id = coupon_template(&app, name, "3.00", days, 5).await;
        crate::pricing::issue_coupon(&app, &admin, id, member).await;
    }
    let told = retail_server::app::account_notices::tell_expiring_coupons(&app.state)
        .await
        .unwrap();
    assert!(told >= 1, "{told}");
    assert_eq!(
        retail_server::app::account_notices::tell_expiring_coupons(&app.state)
            .await
            .unwrap(),
        0,
        "once"
    );
    let unread = storage::notices::unread(&app.state.store, member)
        .await
        .unwrap();
    assert!(unread >= 1, "counted unread: {unread}");
    let page = b.get("/me/messages").await;
    assert_eq!(
        page.body.matches("优惠券即将过期").count(),
        1,
        "{}",
        page.body
    );
    assert!(page.body.contains("两天后过期券"), "{}", page.body);
    assert!(
        !page.body.contains("十天后过期券"),
        "not yet: {}",
        page.body
    );
    assert!(page.body.contains("href=\"/me/coupons\""));
    assert_eq!(
        storage::notices::unread(&app.state.store, member)
            .await
            .unwrap(),
        0,
        "read once opened"
    );
}
crate::both_backends!(
    members_are_told_of_coupons_about_to_expire,
    members_are_told_of_coupons_about_to_expire
);

/// The points mall: head office prices a coupon in points; a member without enough points buys
/// nothing, one with enough buys it (points taken and coupon issued together, a retry takes
/// nothing more), and a coupon over its per-member limit takes no points.
async fn points_buy_coupons_in_the_points_mall(app: TestApp) {
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let template = coupon_template(&app, "积分兑换10元券", "10.00", 30, 1).await;
    let price_path = format!("/api/v1/coupon-templates/{template}/points-price");
    let (status, _) = app
        .put(&price_path, Some(&manager), json!({"points_price": 50}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .put(&price_path, Some(&admin), json!({"points_price": 0}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, mall) = app
        .put(&price_path, Some(&admin), json!({"points_price": 50}))
        .await;
    assert_eq!(status, StatusCode::OK, "{mall}");
    let (_, listed) = app.get("/api/v1/points-mall", None).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["template"]["id"] == json!(template) && i["points_price"] == 50),
        "{listed}"
    );

    let phone = "13900180031";
    let mut b = shopper(&app, phone).await;
    let member = member_of(&app, phone).await;
    let balance = || async {
        storage::members::points_balance(&app.state.store, member)
            .await
            .unwrap()
    };
    let start = balance().await;
    let coupons = || async {
        storage::coupons::usable(&app.state.store, member)
            .await
            .unwrap()
            .len()
    };
    let held = coupons().await;
    // Not enough points (a new member has fewer than 50 beyond the sign-up gifts): nothing.
    if start < 50 {
        let page = b.get("/points-mall").await;
        let coupon_id = between(&page.body, "name=\"coupon_id\" value=\"", "\"").to_owned();
        let refused = b
            .post_csrf(
                &format!("/points-mall/{template}/redeem"),
                &[("coupon_id", &coupon_id)],
            )
            .await;
        assert_eq!(
            refused.location.as_deref(),
            Some("/points-mall?error=insufficient_points")
        );
        assert_eq!((balance().await, coupons().await), (start, held));
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/members/{member}/points/adjustments"),
            Some(&admin),
            json!({"id": retail_domain::ids::new_id(), "delta": 100, "reason": "积分商城测试"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = balance().await;
    let page = b.get("/points-mall").await;
    assert!(
        page.body.contains("积分兑换10元券") && page.body.contains("50 积分"),
        "{}",
        page.body
    );
    let coupon_id = between(&page.body, "name=\"coupon_id\" value=\"", "\"").to_owned();
    let bought = b
        .post_csrf(
            &format!("/points-mall/{template}/redeem"),
            &[("coupon_id", &coupon_id)],
        )
        .await;
    assert_eq!(bought.location.as_deref(), Some("/points-mall?done=1"));
    assert_eq!((balance().await, coupons().await), (before - 50, held + 1));
    // The same coupon id again (a resubmitted form, or the API): the same coupon, no more points.
    let (status, again) = app
        .post(
            &format!("/api/v1/coupon-templates/{template}/redeem"),
            None,
            json!({"coupon_id": coupon_id, "member_code": code_of(&app, member)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], json!(coupon_id));
    assert_eq!((balance().await, coupons().await), (before - 50, held + 1));
    // Over the per-member limit: refused, and no points taken.
    let (status, body) = app
        .post(
            &format!("/api/v1/coupon-templates/{template}/redeem"),
            None,
            json!({"coupon_id": retail_domain::ids::new_id(), "member_code": code_of(&app, member)}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("coupon_limit")),
        "{body}"
    );
    assert_eq!((balance().await, coupons().await), (before - 50, held + 1));
}
crate::both_backends!(
    points_buy_coupons_in_the_points_mall,
    points_buy_coupons_in_the_points_mall
);
