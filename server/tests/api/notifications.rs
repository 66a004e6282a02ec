//! Notifications that reach the shopper (issue 18), on SQLite and PostgreSQL: every event kind
//! leaves its in-app notice and one outbox row per outside channel, once however often its
//! trigger runs; the real SMS adapter (Alibaba Cloud `SendSms` with a template) and the real
//! WeChat subscribe-message adapter deliver to local fakes that check signatures and tokens;
//! preferences and the signed unsubscribe link (a tampered one: 400, nothing changed); a failing
//! provider is retried, then dead-lettered and shown in the console, whose retry delivers it;
//! errcode 43101 is never retried; outside demo mode (and with only the demo sandbox) no
//! notification goes anywhere but the message centre.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use retail_server::app::notifications::{self, Channel, EventKind};
use retail_server::config::Settings;
use retail_server::storage;
use retail_testkit::sms::{Answer, FakeAliyunSms, NOTICE_TEMPLATE_PREFIX};
use retail_testkit::wechat_subscribe::{FakeWechatSubscribe, WxAnswer};
use serde_json::json;
use uuid::Uuid;

use crate::both_backends;
use crate::support::TestApp;
use crate::web::Browser;

/// Both fakes, demo mode kept (the sandbox payment provider pays the orders), the server's own
/// notification sweep out of the way (the test delivers), retries due at once, three attempts.
fn configure(s: &mut Settings) {
    FakeAliyunSms::configure_keeping_demo(s);
    FakeWechatSubscribe::configure(s);
    s.notifications.deliver_every_millis = 0;
    s.notifications.retry_base_millis = 0;
    s.notifications.max_attempts = 3;
    s.notifications.pickup_reminder_hours = 100_000;
}

fn sms_code(kind: EventKind) -> String {
    let i = EventKind::ALL.iter().position(|k| *k == kind).unwrap();
    format!("{NOTICE_TEMPLATE_PREFIX}{i:08}")
}

fn wx_template(kind: EventKind) -> String {
    format!("TPL_{}", kind.as_str())
}

/// Head office gives every kind an SMS template code and a subscribe template id in the console.
async fn set_templates(app: &TestApp) {
    let mut admin = crate::web::console(app, "admin").await;
    for kind in EventKind::ALL {
        let t = notifications::default_template(kind);
        let page = admin
            .post_csrf(
                &format!("/console/notifications/templates/{}", kind.as_str()),
                &[
                    ("title_zh", &t.title_zh),
                    ("title_en", &t.title_en),
                    ("text_zh", &t.text_zh),
                    ("text_en", &t.text_en),
                    ("sms_template_code", &sms_code(kind)),
                    ("wechat_template_id", &wx_template(kind)),
                    ("wechat_page", &t.wechat_page),
                    ("wechat_fields", &t.wechat_fields),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(
            page.location.as_deref(),
            Some("/console/notifications?done=1")
        );
    }
}

/// A shopper logged in with the code the SMS fake received.
async fn log_in(app: &TestApp, phone: &str) -> (Browser, Uuid) {
    let sms = FakeAliyunSms::of(app);
    let mut b = Browser::new(app);
    let page = b.post_csrf("/login/code", &[("phone", phone)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let code = sms.last_code(phone).expect("the code reached the fake");
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
    let s = &app.state;
    let member = storage::members::by_phone(&s.store, &s.keys, &s.settings.points, phone)
        .await
        .unwrap()
        .expect("a member")
        .id;
    (b, member)
}

/// The member accepts the subscribe templates of `kinds` in the mini-program: WeChat learns it
/// (the fake) and the mini-program posts the result to the server.
async fn subscribe(app: &TestApp, member: Uuid, openid: &str, kinds: &[EventKind]) {
    let wx = FakeWechatSubscribe::of(app);
    let results: BTreeMap<String, &str> =
        kinds.iter().map(|k| (wx_template(*k), "accept")).collect();
    let request_id = Uuid::now_v7();
    for _ in 0..2 {
        // Posted twice (a retry): recorded once.
        let (status, body) = crate::member_perks::as_member(
            app,
            member,
            Method::POST,
            "/api/v1/members/me/notification-subscriptions",
            Some(json!({"request_id": request_id, "js_code": wx.login_code(openid), "results": results})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for k in kinds {
        wx.accept(openid, &wx_template(*k));
    }
}

/// `(kind, channel)` → the states of the member's outbox rows.
async fn outbox(app: &TestApp, member: Uuid) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for row in storage::notifications::of_member(&app.state.store, member)
        .await
        .unwrap()
    {
        out.entry((row.kind, row.channel))
            .or_default()
            .push(row.state);
    }
    out
}

/// A no-threshold coupon template valid for `days` more days.
async fn coupon_template(app: &TestApp, name: &str, days: i64) -> Uuid {
    let admin = app.login("admin").await;
    let id = retail_domain::ids::new_id();
    let (status, body) = app
        .post(
            "/api/v1/coupon-templates",
            Some(&admin),
            json!({"id": id,
                "terms": {"name_zh": name, "name_en": name, "rule": {"kind": "no_threshold", "amount": "3.00"},
                    "stacks_with_promotions": true},
                "issue_on": "staff", "valid_from": chrono::Utc::now() - chrono::Duration::hours(1),
                "valid_until": chrono::Utc::now() + chrono::Duration::days(days), "per_member_limit": 5}),
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

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    crate::group_buys::count(app, sql, bind).await
}

/// A paid delivery order from WH01 for `member`: its id and access token.
async fn delivery_order(app: &TestApp, member: Uuid, phone: &str) -> (Uuid, String) {
    let admin = app.login("admin").await;
    let code = crate::pricing::member_code(app, &admin, member).await;
    let (_, stock) = app
        .get("/api/v1/stock?location_id=WH01&limit=50", Some(&admin))
        .await;
    let sku = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > 20)
        .expect("a stocked SKU at WH01")["sku_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "delivery",
                   "address": {"name": "张三", "phone": phone, "address": "上海市浦东新区世纪大道1号"},
                   "member_code": code, "lines": [{"sku_id": sku, "qty": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    crate::refund_approvals::pay_at_sandbox(app, id).await;
    (id, order["access_token"].as_str().unwrap().to_owned())
}

/// Every event kind, each trigger run twice: one in-app notice and one outbox row per outside
/// channel for each event; SMS goes out for what is on by default (ready for pickup, the pickup
/// reminder), subscribe messages for what the member accepted (one each: one-time), the rest is
/// skipped with its reason; a second delivery round sends nothing more.
async fn every_event_is_notified_once_per_channel(app: TestApp) {
    let sms = FakeAliyunSms::of(&app);
    let wx = FakeWechatSubscribe::of(&app);
    set_templates(&app).await;
    let phone = "13900470001";
    let (mut b, member) = log_in(&app, phone).await;
    let subscribed = [
        EventKind::OrderPaid,
        EventKind::ReadyForPickup,
        EventKind::OrderShipped,
        EventKind::AfterSale,
    ];
    subscribe(&app, member, "openid-470001", &subscribed).await;

    // A pickup order: paid, marked ready twice.
    let (_, sku) = crate::web::a_sku(&app, "纯牛奶").await;
    let pickup = crate::web::pickup_order(&mut b, sku).await;
    crate::bus::pay(&app, &pickup).await;
    let manager = app.login("mgr.sh001").await;
    for _ in 0..2 {
        app.post(
            &format!("/api/v1/orders/{pickup}/ready"),
            Some(&manager),
            json!({}),
        )
        .await;
    }
    // A delivery order: paid, shipped, delivered; an after-sale refund approved by the rules.
    let admin = app.login("admin").await;
    let (order, token) = delivery_order(&app, member, phone).await;
    crate::after_sales::deliver(&app, order).await;
    let (_, mut rules) = app.get("/api/v1/after-sales/rules", Some(&admin)).await;
    rules["auto_approve_under"] = json!("100000.00");
    let (status, _) = app
        .put("/api/v1/after-sales/rules", Some(&admin), rules)
        .await;
    assert_eq!(status, StatusCode::OK);
    let case_id = Uuid::now_v7();
    for _ in 0..2 {
        let (status, case) = crate::after_sales::as_shopper(
            &app,
            &token,
            Method::POST,
            &format!("/api/v1/orders/{order}/after-sales"),
            Some(
                json!({"id": case_id, "kind": "refund_only", "reason": "not_received",
                        "lines": [{"line_no": 1, "qty": 1}]}),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{case}");
    }
    // The group-buy notices, as the group-buy sweep writes them.
    for _ in 0..2 {
        let mut tx = app.state.store.begin().await.unwrap();
        let head = storage::orders::lock_head(&mut tx, &app.state.store, order)
            .await
            .unwrap();
        storage::notices::record_group_in_tx(
            &mut tx,
            &[&head],
            storage::notices::NoticeKind::GroupFilled,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    // A coupon expiring in two days, points expiring tomorrow, a top-up.
    let template = coupon_template(&app, "两天后过期券", 2).await;
    crate::pricing::issue_coupon(&app, &admin, template, member).await;
    let now = storage::now_ms();
    exec(
        &app,
        "INSERT INTO points_ledger (id, member_id, delta, kind, reason, ref_id, actor, expires_at, created_at) \
         VALUES ($1, $2, 120, 'earn', 'test', $3, 'test', CAST($4 AS BIGINT), CAST($5 AS BIGINT))",
        &[
            &Uuid::now_v7().to_string(),
            &member.to_string(),
            &format!("test-earn-{member}"),
            &(now + 86_400_000).to_string(),
            &now.to_string(),
        ],
    )
    .await;
    let cashier = app.login("cashier1.sh001").await;
    let topup = Uuid::now_v7();
    for _ in 0..2 {
        let (status, body) = app
            .post(
                &format!("/api/v1/members/{member}/balance/topups"),
                Some(&cashier),
                json!({"id": topup, "amount": "50.00", "tender": "cash"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // The sweeps and the chat, twice each.
    for _ in 0..2 {
        notifications::tell_expiring_coupons(&app.state)
            .await
            .unwrap();
        notifications::tell_expiring_points(&app.state)
            .await
            .unwrap();
        notifications::remind_pickups(&app.state).await.unwrap();
        notifications::chat_reply_while_offline(&app.state, member, "conv-470001", 7)
            .await
            .unwrap();
    }
    let first = notifications::deliver_all_due(&app.state).await.unwrap();
    assert!(first.sent >= 2, "{first:?}");
    let second = notifications::deliver_all_due(&app.state).await.unwrap();
    assert_eq!(second.claimed, 0, "nothing left: {second:?}");

    // One row per event and channel.
    let rows = storage::notifications::of_member(&app.state.store, member)
        .await
        .unwrap();
    let mut keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.event_key.clone(), r.channel.clone()))
        .collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "an event and channel twice");
    let by_kind = outbox(&app, member).await;
    let one_event = [
        EventKind::ReadyForPickup,
        EventKind::PickupReminder,
        EventKind::OrderShipped,
        EventKind::OrderDelivered,
        EventKind::GroupFilled,
        EventKind::PointsExpiring,
        EventKind::BalanceChanged,
        EventKind::ChatReply,
    ];
    for kind in one_event {
        for channel in Channel::ALL {
            let states = by_kind
                .get(&(kind.as_str().into(), channel.as_str().into()))
                .unwrap_or_else(|| panic!("{kind:?} {channel:?}: {by_kind:?}"));
            assert_eq!(states.len(), 1, "{kind:?} {channel:?}: {states:?}");
        }
    }
    // Two orders paid: two events; after-sale steps: at least one.
    let paid = &by_kind[&("order_paid".into(), "wechat".into())];
    assert_eq!(paid.len(), 2, "{paid:?}");
    assert!(by_kind.contains_key(&("after_sale".into(), "sms".into())));
    // SMS: on by default only for the pickup ones.
    for ((kind, channel), states) in &by_kind {
        if channel != "sms" {
            continue;
        }
        let expected = if kind == "ready_for_pickup" || kind == "pickup_reminder" {
            "sent"
        } else {
            "skipped"
        };
        assert!(
            states.iter().all(|s| s == expected),
            "{kind} by SMS: {states:?}"
        );
    }
    // WeChat: one message per accepted subscription (one-time), the rest skipped.
    for ((kind, channel), states) in &by_kind {
        if channel != "wechat" {
            continue;
        }
        let sent = states.iter().filter(|s| *s == "sent").count();
        let accepted = subscribed.iter().any(|k| k.as_str() == kind);
        assert_eq!(sent, usize::from(accepted), "{kind} by WeChat: {states:?}");
        assert!(states.iter().all(|s| s == "sent" || s == "skipped"));
    }
    // What the fakes received: signed requests only, the templates and parameters.
    assert!(sms.refused().is_empty(), "{:?}", sms.refused());
    assert!(wx.refused().is_empty(), "{:?}", wx.refused());
    let texts: Vec<_> = sms
        .delivered()
        .into_iter()
        .filter(|d| d.template.starts_with(NOTICE_TEMPLATE_PREFIX))
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.iter().all(|d| d.phone == phone));
    let reminder = texts
        .iter()
        .find(|d| d.template == sms_code(EventKind::PickupReminder))
        .expect("the reminder by SMS");
    assert!(
        reminder.params["order_no"].as_str().is_some(),
        "{reminder:?}"
    );
    assert!(
        reminder.params["deadline"].as_str().is_some(),
        "{reminder:?}"
    );
    let messages = wx.delivered();
    assert_eq!(messages.len(), subscribed.len(), "{messages:?}");
    assert!(messages.iter().all(|m| m.touser == "openid-470001"));
    let ready = messages
        .iter()
        .find(|m| m.template_id == wx_template(EventKind::ReadyForPickup))
        .unwrap();
    assert_eq!(ready.data["thing1"]["value"], "可以取货了");
    assert_eq!(ready.page, format!("pages/order/detail?id={pickup}"));
    assert_eq!(wx.token_requests(), 1, "the access token is cached");
    // The subscriptions were used up.
    assert_eq!(
        count(
            &app,
            "SELECT CAST(COALESCE(SUM(credits), 0) AS BIGINT) FROM notification_subscriptions WHERE member_id = $1",
            &member.to_string()
        )
        .await,
        0
    );
    // In-app: once each in the message centre.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM account_notices WHERE member_id = $1 AND kind = 'chat_reply'",
            &member.to_string()
        )
        .await,
        1
    );
    let page = b.get("/me/messages").await;
    assert!(by_kind.contains_key(&("coupon_expiring".into(), "sms".into())));
    for title in ["客服回复", "取货提醒", "积分即将过期", "余额变动"] {
        assert_eq!(
            page.body.matches(&format!("<b>{title} ")).count(),
            1,
            "{title}: {}",
            page.body
        );
    }
}
both_backends!(
    every_event_is_notified_once_per_channel,
    every_event_is_notified_once_per_channel,
    crate::notifications::configure
);

/// The member's settings page (linked from the member centre) saves their choices; the signed
/// unsubscribe link works without logging in; a tampered one is refused with 400 and changes
/// nothing; bad subscription results are refused and record nothing.
async fn preferences_and_the_unsubscribe_link(app: TestApp) {
    let (mut b, member) = log_in(&app, "13900470002").await;
    let me = b.get("/me").await;
    assert!(
        me.body.contains("href=\"/me/notifications\""),
        "{}",
        me.body
    );
    let page = b.get("/me/notifications").await;
    assert_eq!(page.status, StatusCode::OK);
    // Defaults: SMS for the pickup ones only; subscribe messages on.
    let pref = |page: &str, id: &str| {
        let at = page.find(&format!("id=\"{id}\"")).unwrap();
        let tag_start = page[..at].rfind('<').unwrap();
        let tag_end = at + page[at..].find('>').unwrap();
        page[tag_start..tag_end].contains("checked")
    };
    assert!(pref(&page.body, "pref-ready_for_pickup-sms"));
    assert!(!pref(&page.body, "pref-order_paid-sms"));
    assert!(pref(&page.body, "pref-order_paid-wechat"));
    let page = b
        .post_csrf(
            "/me/notifications",
            &[
                ("on", "order_paid:sms"),
                ("on", "chat_reply:sms"),
                ("on", "chat_reply:wechat"),
                ("on", "not_a_kind:sms"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let prefs = notifications::preferences(&app.state, member)
        .await
        .unwrap();
    let on = |k: EventKind, c: Channel| {
        prefs
            .iter()
            .any(|p| p.kind == k && p.channel == c && p.enabled)
    };
    assert!(on(EventKind::OrderPaid, Channel::Sms));
    assert!(on(EventKind::ChatReply, Channel::Wechat));
    assert!(!on(EventKind::ReadyForPickup, Channel::Sms), "unticked");
    assert!(!on(EventKind::OrderPaid, Channel::Wechat));

    // The link from the message centre, followed in another browser (not logged in).
    let page = b.get("/me/messages").await;
    let link = crate::web::between(&page.body, "id=\"sms-unsubscribe\" href=\"", "\"")
        .replace("&amp;", "&");
    let path = link[link.find("/unsubscribe").unwrap()..].to_owned();
    // Tampered: another member, another kind, a changed signature: 400, nothing changed.
    let other = Uuid::now_v7();
    let sig_at = path.find("&s=").unwrap() + 3;
    let mut flipped = path.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    for bad in [
        path.replace(&member.to_string(), &other.to_string()),
        path.replace("k=all", "k=order_paid"),
        flipped,
        path[..sig_at].to_owned(),
        "/unsubscribe?m=x&k=all&c=sms&s=00".to_owned(),
    ] {
        let page = Browser::new(&app).get(&bad).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}: {}", page.body);
    }
    assert_eq!(
        notifications::preferences(&app.state, member)
            .await
            .unwrap(),
        prefs,
        "nothing changed"
    );
    for _ in 0..2 {
        let page = Browser::new(&app).get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("id=\"unsubscribed\""));
    }
    let after = notifications::preferences(&app.state, member)
        .await
        .unwrap();
    assert!(after
        .iter()
        .filter(|p| p.channel == Channel::Sms)
        .all(|p| !p.enabled));
    assert!(after
        .iter()
        .any(|p| p.kind == EventKind::ChatReply && p.channel == Channel::Wechat && p.enabled));

    // Bad subscription results: refused, nothing recorded.
    for body in [
        json!({"request_id": Uuid::now_v7(), "js_code": "x", "results": {}}),
        json!({"request_id": Uuid::now_v7(), "js_code": "x", "results": {"T 1": "accept"}}),
        json!({"request_id": Uuid::now_v7(), "js_code": "x", "results": {"T1": "maybe"}}),
        json!({"request_id": Uuid::new_v4(), "js_code": "x", "results": {"T1": "accept"}}),
        json!({"request_id": Uuid::now_v7(), "js_code": "unknown-code", "results": {"T1": "accept"}}),
    ] {
        let (status, answer) = crate::member_perks::as_member(
            &app,
            member,
            Method::POST,
            "/api/v1/members/me/notification-subscriptions",
            Some(body),
        )
        .await;
        assert!(status.is_client_error(), "{status} {answer}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM notification_subscriptions WHERE member_id = $1",
            &member.to_string()
        )
        .await,
        0
    );
}
both_backends!(
    preferences_and_the_unsubscribe_link,
    preferences_and_the_unsubscribe_link,
    crate::notifications::configure
);

/// A provider that keeps failing: retried, then dead-lettered with the reason and listed in the
/// console (filtered by channel and kind), whose retry delivers it; a bad number and a refused
/// subscription (43101) are dead at once, never retried; an expired access token is fetched
/// again.
async fn failures_are_retried_then_dead_lettered(app: TestApp) {
    let sms = FakeAliyunSms::of(&app);
    let wx = FakeWechatSubscribe::of(&app);
    set_templates(&app).await;
    let (mut b, member) = log_in(&app, "13900470003").await;
    b.post_csrf(
        "/me/notifications",
        &[("on", "chat_reply:sms"), ("on", "chat_reply:wechat")],
    )
    .await;
    // Subscribed on our side, but WeChat says the user refused: 43101.
    let code = wx.login_code("openid-470003");
    let (status, body) = crate::member_perks::as_member(
        &app,
        member,
        Method::POST,
        "/api/v1/members/me/notification-subscriptions",
        Some(json!({"request_id": Uuid::now_v7(), "js_code": code,
                    "results": {wx_template(EventKind::ChatReply): "accept"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    sms.answer(Answer::ServerError);
    let requests = sms.requests();
    notifications::chat_reply_while_offline(&app.state, member, "conv-470003", 1)
        .await
        .unwrap();
    let round = notifications::deliver_all_due(&app.state).await.unwrap();
    assert_eq!(round.dead, 2, "{round:?}");
    assert_eq!(sms.requests() - requests, 3, "three attempts by SMS");
    assert_eq!(
        wx.refused().len(),
        1,
        "one attempt by WeChat: {:?}",
        wx.refused()
    );
    assert!(wx.refused()[0].starts_with("43101"));
    let rows = storage::notifications::of_member(&app.state.store, member)
        .await
        .unwrap();
    let sms_row = rows.iter().find(|r| r.channel == "sms").unwrap();
    assert_eq!((sms_row.state.as_str(), sms_row.attempts), ("dead", 3));
    assert!(
        sms_row.last_error.contains("gave up after 3"),
        "{}",
        sms_row.last_error
    );
    let wx_row = rows.iter().find(|r| r.channel == "wechat").unwrap();
    assert_eq!((wx_row.state.as_str(), wx_row.attempts), ("dead", 1));
    assert!(wx_row.last_error.contains("43101"), "{}", wx_row.last_error);

    // The console lists them, filtered.
    let mut console = crate::web::console(&app, "admin").await;
    let page = console.get("/console/notifications").await;
    assert!(page.body.contains(&format!("id=\"dead-{}\"", sms_row.id)));
    assert!(page.body.contains(&format!("id=\"dead-{}\"", wx_row.id)));
    let page = console
        .get("/console/notifications?channel=sms&kind=chat_reply")
        .await;
    assert!(page.body.contains(&format!("id=\"dead-{}\"", sms_row.id)));
    assert!(!page.body.contains(&format!("id=\"dead-{}\"", wx_row.id)));
    let page = console
        .get("/console/notifications?channel=sms&kind=order_paid")
        .await;
    assert!(!page.body.contains(&format!("id=\"dead-{}\"", sms_row.id)));
    // A store manager may not see or retry them.
    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    let page = manager.get("/console/notifications").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = manager
        .post_csrf(&format!("/console/notifications/retry/{}", sms_row.id), &[])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // The provider is back; head office retries; it is delivered once.
    sms.answer(Answer::Ok);
    let page = console
        .post_csrf(&format!("/console/notifications/retry/{}", sms_row.id), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = console
        .post_csrf(&format!("/console/notifications/retry/{}", sms_row.id), &[])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "not dead any more");
    notifications::deliver_all_due(&app.state).await.unwrap();
    let row = storage::notifications::row(&app.state.store, sms_row.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, "sent", "{row:?}");
    let sent: Vec<_> = sms
        .delivered()
        .into_iter()
        .filter(|d| d.template == sms_code(EventKind::ChatReply))
        .collect();
    assert_eq!(sent.len(), 1);
    assert!(sms.refused().is_empty(), "{:?}", sms.refused());

    // A number the provider refuses: dead at once.
    sms.answer(Answer::BadNumber);
    let requests = sms.requests();
    notifications::chat_reply_while_offline(&app.state, member, "conv-470003", 2)
        .await
        .unwrap();
    notifications::deliver_all_due(&app.state).await.unwrap();
    assert_eq!(sms.requests() - requests, 1, "not retried");
    let dead = storage::notifications::dead_letters(
        &app.state.store,
        Some(Channel::Sms),
        Some(EventKind::ChatReply),
        100,
    )
    .await
    .unwrap();
    assert!(dead.iter().any(|r| r.event_key.ends_with("conv-470003:2")
        && r.last_error.contains("MOBILE_NUMBER_ILLEGAL")));

    // WeChat busy: retried, then dead; an expired token is fetched again and the message sent.
    wx.accept("openid-470003", &wx_template(EventKind::ChatReply));
    wx.answer(WxAnswer::Busy);
    notifications::chat_reply_while_offline(&app.state, member, "conv-470003", 3)
        .await
        .unwrap();
    let dead_before = wx.delivered().len();
    notifications::deliver_all_due(&app.state).await.unwrap();
    let row = storage::notifications::of_member(&app.state.store, member)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.channel == "wechat" && r.event_key.ends_with("conv-470003:3"))
        .unwrap();
    assert_eq!((row.state.as_str(), row.attempts), ("dead", 3), "{row:?}");
    wx.answer(WxAnswer::Normal);
    wx.expire_tokens();
    let tokens = wx.token_requests();
    let mut console = crate::web::console(&app, "admin").await;
    let page = console
        .post_csrf(&format!("/console/notifications/retry/{}", row.id), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    notifications::deliver_all_due(&app.state).await.unwrap();
    assert_eq!(wx.delivered().len(), dead_before + 1);
    assert_eq!(wx.token_requests(), tokens + 1, "a fresh token after 42001");
}
both_backends!(
    failures_are_retried_then_dead_lettered,
    failures_are_retried_then_dead_lettered,
    crate::notifications::configure
);

/// Outside demo mode without providers, and in demo mode with only the sandbox: notifications
/// reach the message centre and nowhere else (the sandbox never sends them), and nothing is
/// lost — every row says why it was not sent.
async fn without_providers_only_the_message_centre(app: TestApp) {
    assert!(app.state.wechat_subscribe.is_none());
    let member = crate::group_buys::new_member(&app, "13900470004").await;
    notifications::chat_reply_while_offline(&app.state, member, "conv-470004", 1)
        .await
        .unwrap();
    assert!(
        notifications::chat_reply_while_offline(&app.state, member, "", 1)
            .await
            .is_err()
    );
    notifications::deliver_all_due(&app.state).await.unwrap();
    let rows = storage::notifications::of_member(&app.state.store, member)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row.state, "skipped", "{row:?}");
        assert!(
            row.last_error.contains("not configured") || row.last_error.contains("turned this off"),
            "{row:?}"
        );
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM account_notices WHERE member_id = $1",
            &member.to_string()
        )
        .await,
        1
    );
}
both_backends!(
    without_providers_only_the_message_centre,
    without_providers_only_the_message_centre,
    |s: &mut retail_server::config::Settings| {
        s.notifications.deliver_every_millis = 0;
    }
);

/// The demo sandbox SMS (demo mode, no provider) never carries a notification.
async fn the_sandbox_sends_no_notifications(app: TestApp) {
    assert!(app
        .state
        .sms
        .as_ref()
        .is_some_and(|s| s.shows_code_on_page()));
    let member = crate::group_buys::new_member(&app, "13900470005").await;
    notifications::set_preferences(&app.state, member, &[(EventKind::ChatReply, Channel::Sms)])
        .await
        .unwrap();
    notifications::chat_reply_while_offline(&app.state, member, "conv-470005", 1)
        .await
        .unwrap();
    notifications::deliver_all_due(&app.state).await.unwrap();
    let rows = storage::notifications::of_member(&app.state.store, member)
        .await
        .unwrap();
    let sms_row = rows.iter().find(|r| r.channel == "sms").unwrap();
    assert_eq!(sms_row.state, "skipped");
    assert_eq!(sms_row.last_error, "SMS is not configured");
}
both_backends!(
    the_sandbox_sends_no_notifications,
    the_sandbox_sends_no_notifications,
    |s: &mut retail_server::config::Settings| {
        s.notifications.deliver_every_millis = 0;
    }
);

/// Outside demo mode: the server starts without the sandbox and without subscribe messages.
async fn production_has_no_sandbox(app: TestApp) {
    assert!(app.state.sms.is_none());
    assert!(app.state.wechat_subscribe.is_none());
    let page = Browser::new(&app)
        .get("/unsubscribe?m=x&k=all&c=sms&s=0")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}
both_backends!(
    production_has_no_sandbox,
    production_has_no_sandbox,
    |s: &mut retail_server::config::Settings| {
        s.demo = false;
    }
);

/// In a real browser: a member's coupon about to expire shows once in the shop's message
/// centre, however often the sweep runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_a_coupon_expiry_notice_appears_once() {
    use crate::browser::{browser, browser_available, click, shopper_login, start_driver, Shots};
    use fantoccini::Locator;
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, |s| {
        s.notifications.deliver_every_millis = 0;
    })
    .await
    .expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    let number = "13900470009";
    shopper_login(&phone, &app, number, "/me").await;
    let s = &app.state;
    let member = storage::members::by_phone(&s.store, &s.keys, &s.settings.points, number)
        .await
        .unwrap()
        .expect("signed up")
        .id;
    let admin = app.login("admin").await;
    let template = coupon_template(&app, "浏览器过期券", 2).await;
    crate::pricing::issue_coupon(&app, &admin, template, member).await;
    // The sweep, twice.
    assert!(
        notifications::tell_expiring_coupons(&app.state)
            .await
            .unwrap()
            >= 1
    );
    assert_eq!(
        notifications::tell_expiring_coupons(&app.state)
            .await
            .unwrap(),
        0
    );
    phone.goto(&format!("{}/me", app.url)).await.unwrap();
    click(&phone, "#messages-link").await;
    crate::browser::wait_path(&phone, "/me/messages").await;
    let mut matching = 0;
    for el in phone
        .find_all(Locator::Css(".account-notice"))
        .await
        .unwrap()
    {
        let text = el.text().await.unwrap();
        if text.contains("优惠券即将过期") && text.contains("浏览器过期券") {
            matching += 1;
        }
    }
    assert_eq!(matching, 1, "the notice appears once");
    shots.take(&phone, "notifications-coupon-expiry-360").await;
    // The settings page is one tap away.
    click(&phone, "#notification-settings").await;
    crate::browser::wait_path(&phone, "/me/notifications").await;
    shots.take(&phone, "notifications-settings-360").await;
    phone.close().await.unwrap();
}
