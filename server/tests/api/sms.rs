//! SMS log-in (issue 15, finding 2): outside demo mode the shop never shows a log-in code; the
//! real Alibaba Cloud adapter sends it to a local fake of the provider that checks its signature
//! (`retail_testkit::FakeAliyunSms`); codes are single-use, expire, burn after five wrong tries,
//! and are limited per phone and per client address; provider failures change nothing; with no
//! provider SMS log-in is unavailable, not broken; sign-up coupons are limited per address.

use reqwest::StatusCode;
use retail_server::app::member_login;
use retail_server::storage;
use retail_testkit::sms::{Answer, FakeAliyunSms};
use serde_json::json;

use crate::both_backends;
use crate::support::TestApp;
use crate::web::Browser;

/// A shopper asks for a code: the page that answers.
async fn ask_code(app: &TestApp, phone: &str) -> crate::web::Page {
    Browser::new(app)
        .post_csrf("/login/code", &[("phone", phone)])
        .await
}

/// A log-in attempt from a fresh browser: the page that answers.
async fn try_code(app: &TestApp, phone: &str, code: &str) -> crate::web::Page {
    Browser::new(app)
        .post_csrf(
            "/login",
            &[
                ("phone", phone),
                ("code", code),
                ("back", "/me"),
                ("consent", "on"),
            ],
        )
        .await
}

fn logged_in(page: &crate::web::Page) -> bool {
    page.status == StatusCode::SEE_OTHER && page.location.as_deref() == Some("/me")
}

async fn is_member(app: &TestApp, phone: &str) -> bool {
    storage::members::by_phone(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        phone,
    )
    .await
    .unwrap()
    .is_some()
}

/// The attack of finding 2 (knowing a phone number is enough to log in as its member) against a
/// production server: the page never carries the code, only the provider receives it, a forged
/// code fails, the real one logs in once.
async fn the_code_reaches_only_the_provider(app: TestApp) {
    let sms = FakeAliyunSms::of(&app);
    let phone = "13911110001";
    let mut victim_attacker = Browser::new(&app);
    let page = victim_attacker
        .post_csrf("/login/code", &[("phone", phone)])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let delivered = sms.delivered();
    assert_eq!(delivered.len(), 1, "one SMS: {:?}", sms.refused());
    assert!(sms.refused().is_empty(), "{:?}", sms.refused());
    let code = delivered[0].code.clone();
    assert_eq!(delivered[0].phone, phone);
    assert_eq!(code.len(), 6);
    assert!(!page.body.contains(&code), "the page shows the code");
    assert!(!page.body.contains("sms-code"), "no sandbox notice");
    assert!(page.body.contains("sms-sent"), "{}", page.body);
    assert!(page.body.contains("139****0001"));

    // Guessing: a forged code is refused and logs nobody in.
    let forged = if code == "000000" { "000001" } else { "000000" };
    let page = victim_attacker
        .post_csrf(
            "/login",
            &[
                ("phone", phone),
                ("code", forged),
                ("back", "/me"),
                ("consent", "on"),
            ],
        )
        .await;
    assert!(!logged_in(&page));
    assert!(page.body.contains("data-field=\"code\""), "{}", page.body);
    assert!(!is_member(&app, phone).await, "nobody signed up");
    let page = victim_attacker.get("/me").await;
    assert_ne!(page.status, StatusCode::OK, "not logged in");

    // The phone's owner, with the code the provider delivered, logs in (and signs up).
    let mut owner = Browser::new(&app);
    let page = owner
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
    assert!(logged_in(&page), "{} {}", page.status, page.body);
    assert!(is_member(&app, phone).await);
    let page = owner.get("/me").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("139****0001"));

    // Single use: the same code again (someone who saw it) is refused.
    let page = try_code(&app, phone, &code).await;
    assert!(!logged_in(&page), "a code works once");
    assert!(
        page.body.contains("data-field=\"phone\""),
        "expired: ask again"
    );
    assert_eq!(sms.delivered().len(), 1, "nothing else was sent");
}
/// The page's text with the per-browser CSRF token and the phone taken out.
fn without_token_and_phone(body: &str, phone: &str, masked: &str) -> String {
    let mut out = body.replace(phone, "PHONE").replace(masked, "MASKED");
    for marker in ["name=\"_csrf\" value=\"", "name=\"csrf\" content=\""] {
        let mut rest = out.as_str();
        let mut cleaned = String::new();
        while let Some(at) = rest.find(marker) {
            cleaned.push_str(&rest[..at + marker.len()]);
            rest = &rest[at + marker.len()..];
            rest = &rest[rest.find('"').unwrap()..];
        }
        cleaned.push_str(rest);
        out = cleaned;
    }
    out
}

/// Asking for a code answers the same page whether or not the phone is a member: the shop is no
/// membership oracle.
async fn asking_a_code_tells_nothing_about_membership(app: TestApp) {
    let member = "13911110061";
    let stranger = "13911110062";
    storage::members::register(
        &app.state.store,
        &app.state.keys,
        &app.state.settings.points,
        retail_domain::ids::new_id(),
        member,
        "",
    )
    .await
    .unwrap();
    let known = ask_code(&app, member).await;
    let unknown = ask_code(&app, stranger).await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(
        without_token_and_phone(&known.body, member, "139****0061"),
        without_token_and_phone(&unknown.body, stranger, "139****0062"),
    );
    assert!(is_member(&app, member).await);
    assert!(!is_member(&app, stranger).await, "asking signs nobody up");
}
both_backends!(
    asking_a_code_tells_nothing_about_membership,
    asking_a_code_tells_nothing_about_membership,
    retail_testkit::FakeAliyunSms::configure
);

both_backends!(
    the_code_reaches_only_the_provider,
    the_code_reaches_only_the_provider,
    retail_testkit::FakeAliyunSms::configure
);

/// Flooding a phone with codes, guessing codes, and a stale code: each is refused.
async fn codes_are_limited_burned_and_expire(app: TestApp) {
    let sms = FakeAliyunSms::of(&app);
    let phone = "13911110002";
    let page = ask_code(&app, phone).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let code = sms.last_code(phone).expect("delivered");

    // A second code for the same phone within the minute: 429 with Retry-After, nothing sent.
    let page = ask_code(&app, phone).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = page.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=61).contains(&wait), "{wait}");
    assert_eq!(sms.delivered().len(), 1);

    // Five wrong guesses burn the code: the right one then fails too.
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for _ in 0..5 {
        let page = try_code(&app, phone, wrong).await;
        assert!(!logged_in(&page));
    }
    let page = try_code(&app, phone, &code).await;
    assert!(
        !logged_in(&page),
        "the code is burned after five wrong tries"
    );
    assert!(!is_member(&app, phone).await);

    // A code past its five minutes is refused (stored as the server stores it, already stale).
    let stale = "13911110003";
    storage::web::put_login_code(
        &app.state.store,
        &app.state.keys.lookup_hash(stale),
        &member_login::code_hash(&app.state, stale, "123456"),
        storage::now_ms() - 1,
    )
    .await
    .unwrap();
    let page = try_code(&app, stale, "123456").await;
    assert!(!logged_in(&page), "an expired code logs nobody in");
    assert!(!is_member(&app, stale).await);
    // The same code, current, is accepted: the refusal was the expiry.
    storage::web::put_login_code(
        &app.state.store,
        &app.state.keys.lookup_hash(stale),
        &member_login::code_hash(&app.state, stale, "123456"),
        storage::now_ms() + member_login::CODE_TTL_MS,
    )
    .await
    .unwrap();
    assert!(logged_in(&try_code(&app, stale, "123456").await));

    // One address asking codes for many phones: the hourly limit (3 in this test) stops it.
    let delivered = sms.delivered().len();
    for i in 0..2 {
        let page = ask_code(&app, &format!("1391111001{i}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    let page = ask_code(&app, "13911110019").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
    assert!(page.retry_after.is_some());
    assert_eq!(
        sms.delivered().len(),
        delivered + 2,
        "the refused one was not sent"
    );
    assert!(sms.last_code("13911110019").is_none());
}
both_backends!(
    codes_are_limited_burned_and_expire,
    codes_are_limited_burned_and_expire,
    |s: &mut retail_server::config::Settings| {
        retail_testkit::FakeAliyunSms::configure(s);
        s.sms.codes_per_address_per_hour = 3;
    }
);

/// The provider throttles, fails or answers garbage: the shopper gets 429 or 503 with
/// Retry-After, and no code is stored (nothing to log in with).
async fn provider_failures_change_nothing(app: TestApp) {
    let sms = FakeAliyunSms::of(&app);
    for (answer, phone, status) in [
        (
            Answer::BusinessLimit,
            "13911110021",
            StatusCode::TOO_MANY_REQUESTS,
        ),
        (
            Answer::ServerError,
            "13911110022",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            Answer::Malformed,
            "13911110023",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ] {
        sms.answer(answer);
        let before = sms.requests();
        let page = ask_code(&app, phone).await;
        assert_eq!(page.status, status, "{answer:?}: {}", page.body);
        assert!(page.retry_after.is_some(), "{answer:?}");
        assert_eq!(
            sms.requests(),
            before + 1,
            "{answer:?} reached the provider"
        );
        assert!(!page.body.contains("internal"), "{}", page.body);
        // No code was stored: every code is refused as expired.
        let page = try_code(&app, phone, "123456").await;
        assert!(!logged_in(&page));
        assert!(page.body.contains("data-field=\"phone\""), "{answer:?}");
    }
    assert!(sms.delivered().is_empty());
    assert!(sms.refused().is_empty(), "{:?}", sms.refused());
    // The provider recovers: a new phone gets its code.
    sms.answer(Answer::Ok);
    let page = ask_code(&app, "13911110024").await;
    assert_eq!(page.status, StatusCode::OK);
    let code = sms.last_code("13911110024").expect("delivered");
    assert!(logged_in(&try_code(&app, "13911110024", &code).await));
}
both_backends!(
    provider_failures_change_nothing,
    provider_failures_change_nothing,
    retail_testkit::FakeAliyunSms::configure
);

/// A request signed with the wrong secret is refused by the fake provider (the fake checks the
/// signature; it would catch an adapter that signs wrongly), and the shopper gets a 503.
async fn a_wrongly_signed_request_is_refused(app: TestApp) {
    let sms = FakeAliyunSms::of(&app);
    let page = ask_code(&app, "13911110031").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(sms.delivered().is_empty());
    let refused = sms.refused();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].starts_with("SignatureDoesNotMatch"),
        "{refused:?}"
    );
}
both_backends!(
    a_wrongly_signed_request_is_refused,
    a_wrongly_signed_request_is_refused,
    |s: &mut retail_server::config::Settings| {
        retail_testkit::FakeAliyunSms::configure(s);
        s.sms.access_key_secret = "not-the-secret".into();
    }
);

/// Outside demo mode with no provider: the log-in page says SMS log-in is unavailable (503, no
/// crash), asking for a code changes nothing; a half-configured provider stops the server from
/// starting, naming the missing setting.
async fn without_a_provider_sms_log_in_is_unavailable(app: TestApp) {
    let mut b = Browser::new(&app);
    let page = b.get("/login").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("sms-unavailable"), "{}", page.body);
    assert!(!page.body.contains("action=\"/login/code\""));
    let page = ask_code(&app, "13911110041").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("sms-unavailable"));
    assert!(!page.body.contains("sms-code"));
    let page = try_code(&app, "13911110041", "123456").await;
    assert!(!logged_in(&page));
    assert!(!is_member(&app, "13911110041").await);

    let mut half = app.settings.clone();
    half.listen = "127.0.0.1:0".parse().unwrap();
    half.sms.provider = "aliyun".into();
    half.sms.access_key_id = "LTAI".into();
    half.sms.sign_name = "零售".into();
    half.sms.template_code = "SMS_1".into();
    let refused = retail_server::Application::build(half).await.err();
    let text = refused.map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(
        text.contains("sms.access_key_secret is missing"),
        "refused with {text:?}"
    );
}
both_backends!(
    without_a_provider_sms_log_in_is_unavailable,
    without_a_provider_sms_log_in_is_unavailable,
    |s: &mut retail_server::config::Settings| s.demo = false
);

/// Coupon farming: many sign-ups from one address get the sign-up coupons only for the first
/// `sms.signup_gifts_per_address_per_day` (2 here); later ones become members without them.
async fn sign_up_coupons_are_limited_per_address(app: TestApp) {
    let admin = app.login("admin").await;
    let signup = crate::pricing::coupon_template(&app, &admin, "signup", None).await;
    let mut coupons = Vec::new();
    for i in 0..3 {
        let phone = format!("1391111005{i}");
        crate::web::shopper(&app, &phone).await;
        let (status, member) = app
            .post(
                "/api/v1/members/lookup",
                Some(&admin),
                json!({ "phone": phone }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{member}");
        let (_, list) = app
            .get(
                &format!("/api/v1/members/{}/coupons", member["id"].as_str().unwrap()),
                Some(&admin),
            )
            .await;
        let from_signup = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["template_id"] == signup.to_string())
            .count();
        coupons.push(from_signup);
    }
    assert_eq!(
        coupons,
        [1, 1, 0],
        "the third sign-up from the address gets none"
    );
}
both_backends!(
    sign_up_coupons_are_limited_per_address,
    sign_up_coupons_are_limited_per_address,
    |s: &mut retail_server::config::Settings| s.sms.signup_gifts_per_address_per_day = 2
);
