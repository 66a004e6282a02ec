//! The customer-service bot (issue 18): its accuracy on a labelled set of 150 real-style
//! shopper questions (`server/tests/data/faq_questions.tsv`) against a realistic knowledge base
//! of 34 entries (`faq_kb.json`, loaded through the API), order questions answered from the
//! member's own orders only (never another member's), hand-over on request, on low confidence
//! and on keywords, an agent's answer learned as an entry that then matches, bad input, and the
//! console pages.

use std::collections::HashMap;

use reqwest::StatusCode;
use retail_server::app::service_bot::{self, BotIntent, BotQuestion, BotReply, Lang};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::group_buys::{code_of, new_member};
use crate::support::TestApp;
use crate::web::console;

const KB: &str = include_str!("../data/faq_kb.json");
const QUESTIONS: &str = include_str!("../data/faq_questions.tsv");

/// The lowest top-1 accuracy accepted on the labelled set.
const ACCURACY_FLOOR: f64 = 0.85;

/// Turns off every entry the demo chain loaded, then loads the test knowledge base through the
/// API (each create retried once: the same entry comes back). Entry id → key.
async fn load_kb(app: &TestApp) -> HashMap<i64, String> {
    let admin = app.login("admin").await;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/faq?enabled=true&limit=200&cursor={c}"),
            None => "/api/v1/faq?enabled=true&limit=200".to_owned(),
        };
        let (status, page) = app.get(&path, Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for e in page["items"].as_array().unwrap() {
            let mut body = e.clone();
            for k in [
                "id",
                "client_id",
                "enabled",
                "source",
                "source_conversation",
                "created_by",
                "created_at",
                "updated_by",
                "updated_at",
            ] {
                body.as_object_mut().unwrap().remove(k);
            }
            body["enabled"] = json!(false);
            let (status, off) = app
                .put(&format!("/api/v1/faq/{}", e["id"]), Some(&admin), body)
                .await;
            assert_eq!(status, StatusCode::OK, "{off}");
            assert_eq!(off["enabled"], false);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let kb: Vec<Value> = serde_json::from_str(KB).unwrap();
    let mut keys = HashMap::new();
    for mut entry in kb {
        let key = entry["key"].as_str().unwrap().to_owned();
        let body = entry.as_object_mut().unwrap();
        body.remove("key");
        body.insert("id".into(), json!(Uuid::now_v7()));
        let body = Value::Object(body.clone());
        let (status, created) = app.post("/api/v1/faq", Some(&admin), body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let (status, again) = app.post("/api/v1/faq", Some(&admin), body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(
            again["id"], created["id"],
            "a retry answers the first entry"
        );
        keys.insert(created["id"].as_i64().unwrap(), key);
    }
    keys
}

fn label(outcome: &service_bot::BotOutcome, keys: &HashMap<i64, String>) -> String {
    match (&outcome.reply, outcome.intent) {
        (
            BotReply::Answer {
                faq_id: Some(id), ..
            },
            _,
        ) => keys.get(id).cloned().unwrap_or_else(|| format!("faq#{id}")),
        (_, BotIntent::OrderStatus) => "order_status".into(),
        (_, BotIntent::OrderPickup) => "order_pickup".into(),
        (_, BotIntent::OrderReturn) => "order_return".into(),
        (BotReply::Handover { .. }, _) => "handover".into(),
        (BotReply::Answer { .. }, intent) => format!("{intent:?}"),
    }
}

/// The labelled set through [`service_bot::answer`] (what `reply` answers): top-1 accuracy at
/// least [`ACCURACY_FLOOR`]; a few of the questions through the API give the same answer.
async fn answers_the_labelled_questions(app: TestApp) {
    let keys = load_kb(&app).await;
    assert_eq!(keys.len(), 34);
    let mut right = 0;
    let mut total = 0;
    let mut misses = Vec::new();
    let mut by_label: HashMap<String, (u32, u32)> = HashMap::new();
    for line in QUESTIONS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (expected, question) = line.split_once('\t').expect("expected<TAB>question");
        let lang = if question.is_ascii() {
            Lang::En
        } else {
            Lang::Zh
        };
        let outcome = service_bot::answer(
            &app.state,
            BotQuestion {
                text: question,
                member: None,
                order_id: None,
                lang,
            },
        )
        .await
        .unwrap();
        let got = label(&outcome, &keys);
        total += 1;
        let counts = by_label.entry(expected.to_owned()).or_default();
        counts.1 += 1;
        if got == expected {
            right += 1;
            counts.0 += 1;
        } else {
            misses.push(format!("{expected} ← {got}: {question}"));
        }
    }
    let accuracy = f64::from(right) / f64::from(total);
    println!(
        "service bot top-1 accuracy: {right}/{total} = {:.1}%",
        accuracy * 100.0
    );
    for miss in &misses {
        println!("  miss: {miss}");
    }
    assert!(total >= 100, "at least 100 labelled questions");
    assert!(
        accuracy >= ACCURACY_FLOOR,
        "accuracy {accuracy:.3} below {ACCURACY_FLOOR}: {misses:#?}"
    );
    // The API answers as the use case does.
    for (question, key) in [
        ("买多少钱可以免运费啊", "delivery_fee"),
        ("how do i redeem my points", "points_use"),
    ] {
        let (status, reply) = app
            .post("/api/v1/faq/ask", None, json!({"text": question}))
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["kind"], "answer", "{reply}");
        let id = reply["faq_id"].as_i64().unwrap();
        assert_eq!(keys[&id], key, "{question}: {reply}");
        assert!(reply["score"].as_f64().unwrap() > 0.0);
    }
    let (_, reply) = app
        .post(
            "/api/v1/faq/ask",
            None,
            json!({"text": "how do i redeem my points", "lang": "en"}),
        )
        .await;
    assert!(
        reply["text"].as_str().unwrap().contains("points mall"),
        "the English answer: {reply}"
    );
}
crate::both_backends!(
    answers_the_labelled_questions,
    answers_the_labelled_questions
);

async fn ask_as(
    app: &TestApp,
    member: Option<Uuid>,
    text: &str,
    order_id: Option<Uuid>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(format!("{}/api/v1/faq/ask", app.url))
        .json(&json!({"text": text, "order_id": order_id}));
    if let Some(m) = member {
        req = req.header("x-member-code", code_of(app, m));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A pickup order at SH001 for `member`, paid through the sandbox: (id, order number).
async fn pickup_order_of(app: &TestApp, member: Uuid) -> (Uuid, String) {
    let (sku, _) = crate::group_buys::stocked_sku(app, 50).await;
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
                   "member_code": code_of(app, member), "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    crate::refund_approvals::pay_at_sandbox(app, id).await;
    (id, order["order_no"].as_str().unwrap().to_owned())
}

/// Order questions: answered from the member's own latest order (status, pickup store,
/// readiness and deadline, what after-sale they may ask); another member asking about it — by
/// id or not — learns nothing of it; without a member the bot asks them to log in.
async fn order_questions_use_the_members_own_orders(app: TestApp) {
    let owner = new_member(&app, "13900460001").await;
    let other = new_member(&app, "13900460002").await;
    let (order, order_no) = pickup_order_of(&app, owner).await;

    let (status, reply) = ask_as(&app, Some(owner), "我的订单到哪了", None).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["kind"], "answer", "{reply}");
    assert!(reply["faq_id"].is_null(), "{reply}");
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains(&order_no), "{text}");
    assert!(text.contains("备货"), "paid, being prepared: {text}");

    // Another member: not by their latest order, not by naming the owner's order.
    for named in [None, Some(order)] {
        let (status, reply) = ask_as(&app, Some(other), "我的订单到哪了", named).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let text = reply["text"].as_str().unwrap();
        assert!(!text.contains(&order_no), "never another's order: {text}");
        assert!(text.contains("没有在您的账户里找到"), "{text}");
    }
    // The same answer for an order that does not exist.
    let (_, unknown) = ask_as(&app, Some(other), "我的订单到哪了", Some(Uuid::now_v7())).await;
    let (_, others) = ask_as(&app, Some(other), "我的订单到哪了", Some(order)).await;
    assert_eq!(unknown, others);

    // No member: log in first.
    let (status, reply) = ask_as(&app, None, "where is my order", None).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(
        reply["text"].as_str().unwrap().contains("log in")
            || reply["text"].as_str().unwrap().contains("登录"),
        "{reply}"
    );

    // Ready for pickup: the store, and the deadline.
    let admin = app.login("admin").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/ready"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcome = service_bot::answer(
        &app.state,
        BotQuestion {
            text: "我的自提订单什么时候能取",
            member: Some(owner),
            order_id: None,
            lang: Lang::Zh,
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.intent, BotIntent::OrderPickup);
    let BotReply::Answer { text, .. } = outcome.reply else {
        panic!("an answer: {outcome:?}");
    };
    assert!(
        text.contains(&order_no) && text.contains("已经备好"),
        "{text}"
    );
    assert!(text.contains("前取货"), "the deadline: {text}");
    let location = retail_server::storage::locations::get(&app.state.store, "SH001")
        .await
        .unwrap();
    assert!(text.contains(&location.name_zh), "the store: {text}");
    let (_, theirs) = ask_as(&app, Some(other), "is my pickup order ready", None).await;
    assert!(
        !theirs["text"].as_str().unwrap().contains(&order_no),
        "{theirs}"
    );

    // Returning something not collected yet: cancel instead.
    let (_, reply) = ask_as(&app, Some(owner), "我买的这个怎么退", None).await;
    assert!(
        reply["text"].as_str().unwrap().contains("没有找到")
            || reply["text"].as_str().unwrap().contains("没有在"),
        "nothing collected yet to return: {reply}"
    );
    let (_, reply) = ask_as(&app, Some(owner), "我买的这个怎么退", Some(order)).await;
    assert!(reply["text"].as_str().unwrap().contains("取消"), "{reply}");
    // Collected: what they may ask for, and until when.
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/pickup"),
            Some(&admin),
            json!({"pickup_code": app_pickup_code(&app, order).await}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, reply) = ask_as(&app, Some(owner), "how do i return this", None).await;
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.contains(&order_no) && text.contains("退货退款"),
        "{text}"
    );
    let (_, reply) = ask_as(&app, Some(other), "how do i return this", Some(order)).await;
    assert!(
        !reply["text"].as_str().unwrap().contains(&order_no),
        "{reply}"
    );
}
crate::both_backends!(
    order_questions_use_the_members_own_orders,
    order_questions_use_the_members_own_orders
);

async fn app_pickup_code(app: &TestApp, order: Uuid) -> String {
    retail_server::storage::orders::get(&app.state.store, order)
        .await
        .unwrap()
        .pickup_code
        .expect("a pickup code")
}

fn settings_with_keyword(s: &mut retail_server::config::Settings) {
    s.service_bot.handover_keywords.push("退一赔三".into());
}

/// Hand-over: on request (zh and en), on a configured keyword, on low confidence; each with
/// the shopper told so.
async fn hands_over_to_a_person(app: TestApp) {
    for (text, reason) in [
        ("转人工", "asked"),
        ("我要人工客服！", "asked"),
        ("Can I talk to a human please", "asked"),
        ("我要投诉你们", "keyword"),
        ("再这样我打12315", "keyword"),
        ("必须退一赔三", "keyword"),
        ("你们卖不卖汽车轮胎和机油", "low_confidence"),
        ("zxqv blorp", "low_confidence"),
    ] {
        let (status, reply) = app
            .post("/api/v1/faq/ask", None, json!({"text": text}))
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["kind"], "handover", "{text}: {reply}");
        assert_eq!(reply["reason"], reason, "{text}: {reply}");
        assert!(!reply["text"].as_str().unwrap().is_empty());
    }
}
crate::both_backends!(
    hands_over_to_a_person,
    hands_over_to_a_person,
    super::settings_with_keyword
);

/// An agent turns an answer into an entry (the API, idempotent; the use case the chat calls);
/// the bot then answers that question with it; head office sees where it came from.
async fn learns_from_an_agent(app: TestApp) {
    let question = "你们的宠物粮有卖吗？猫粮狗粮";
    let (_, before) = app
        .post("/api/v1/faq/ask", None, json!({"text": question}))
        .await;
    assert_eq!(
        before["kind"], "handover",
        "nothing about pet food yet: {before}"
    );
    let cashier = app.login("cashier1.sh001").await;
    let id = Uuid::now_v7();
    let body = json!({"id": id, "question": question,
        "answer": "部分门店有售猫粮、狗粮，线上商城搜索「宠物」即可。", "conversation": "conv-42"});
    let (status, learned) = app
        .post("/api/v1/faq/learn", Some(&cashier), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{learned}");
    let faq_id = learned["faq_id"].as_i64().unwrap();
    let (_, again) = app.post("/api/v1/faq/learn", Some(&cashier), body).await;
    assert_eq!(again["faq_id"], faq_id, "a retry answers the same entry");
    let (_, reply) = app
        .post("/api/v1/faq/ask", None, json!({"text": "有没有卖猫粮的"}))
        .await;
    assert_eq!(reply["kind"], "answer", "{reply}");
    assert_eq!(reply["faq_id"], faq_id, "{reply}");

    // The use case the chat calls, in English.
    let staff = retail_server::storage::staff::by_username(&app.state.store, "mgr.sh001")
        .await
        .unwrap()
        .expect("mgr.sh001")
        .actor;
    let en_id = service_bot::learn_from_agent(
        &app.state,
        &staff,
        "Do you sell gift cards?",
        "Yes, gift cards of 100, 200 and 500 yuan are sold at every till.",
        Lang::En,
        Some("conv-43"),
    )
    .await
    .unwrap();
    let reply = service_bot::reply(
        &app.state,
        BotQuestion {
            text: "can i buy a gift card",
            member: None,
            order_id: None,
            lang: Lang::En,
        },
    )
    .await
    .unwrap();
    match reply {
        BotReply::Answer { faq_id, text, .. } => {
            assert_eq!(faq_id, Some(en_id));
            assert!(text.contains("gift cards of 100"), "{text}");
        }
        other => panic!("an answer: {other:?}"),
    }
    let admin = app.login("admin").await;
    let (_, entry) = app
        .get(&format!("/api/v1/faq/{faq_id}"), Some(&admin))
        .await;
    assert_eq!(entry["source"], "agent", "{entry}");
    assert_eq!(entry["source_conversation"], "conv-42");
    assert_eq!(entry["created_by"], "staff:cashier1.sh001");
    let (_, audit) = app.get("/api/v1/audit?limit=200", Some(&admin)).await;
    let wanted = faq_id.to_string();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "faq.create" && e["entity_id"] == wanted.as_str()),
        "audited"
    );
    // Nothing learned from an empty answer.
    let (status, body) = app
        .post(
            "/api/v1/faq/learn",
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "question": "x", "answer": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
crate::both_backends!(learns_from_an_agent, learns_from_an_agent);

/// Bad input: clear 4xx errors, nothing changed.
async fn refuses_bad_input(app: TestApp) {
    let admin = app.login("admin").await;
    let cashier = app.login("cashier1.sh001").await;
    for text in ["", "   ", &"长".repeat(501)] {
        let (status, body) = app
            .post("/api/v1/faq/ask", None, json!({"text": text}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, _) = app
        .post("/api/v1/faq/ask", None, json!({"text": "长".repeat(500)}))
        .await;
    assert_eq!(status, StatusCode::OK, "500 characters are fine");
    let (status, _) = app
        .post(
            "/api/v1/faq/ask",
            None,
            json!({"text": "hi", "order_id": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let resp = app
        .client
        .post(format!("{}/api/v1/faq/ask", app.url))
        .header("x-member-code", "forged")
        .json(&json!({"text": "where is my order"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/faq/abc", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get("/api/v1/faq/99999999", Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            "/api/v1/faq/99999999",
            Some(&admin),
            json!({"question_zh": "q", "answer_zh": "a"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, before) = app.get("/api/v1/faq?limit=200", Some(&admin)).await;
    for body in [
        json!({"id": Uuid::now_v7(), "question_zh": "", "answer_zh": "a"}),
        json!({"id": Uuid::now_v7(), "question_zh": "q", "answer_zh": "a".repeat(2001)}),
        json!({"id": Uuid::new_v4(), "question_zh": "q", "answer_zh": "a"}),
        json!({"id": Uuid::now_v7(), "question_zh": "q", "answer_zh": "a", "keywords": ["a\nb"]}),
    ] {
        let (status, err) = app.post("/api/v1/faq", Some(&admin), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    }
    let (status, _) = app
        .post(
            "/api/v1/faq",
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "question_zh": "q", "answer_zh": "a"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/faq", Some(&cashier)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/faq?cursor=forged", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, after) = app.get("/api/v1/faq?limit=200", Some(&admin)).await;
    assert_eq!(before, after, "nothing changed");
}
crate::both_backends!(refuses_bad_input, refuses_bad_input);

/// The console: list and search, create, edit, disable (the bot stops using it), try the bot.
async fn console_pages_edit_the_knowledge_base(app: TestApp) {
    let mut desk = console(&app, "admin").await;
    let page = desk.get("/console/faq").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("faq-entries"),
        "the demo entries are listed"
    );
    assert!(
        page.body.contains("href=\"/console/faq\""),
        "linked from the nav"
    );
    let page = desk.get("/console/faq?q=%E5%8F%91%E7%A5%A8").await;
    assert!(
        page.body.contains("怎么开发票"),
        "search finds the invoice entry"
    );
    assert!(!page.body.contains("拼团怎么玩"), "and not the others");

    let page = desk.get("/console/faq/new").await;
    let id = crate::web::between(&page.body, "name=\"id\" value=\"", "\"").to_owned();
    let form = [
        ("id", id.as_str()),
        ("question_zh", "停车场可以免费停吗？"),
        ("question_en", "Is parking free?"),
        ("answer_zh", "购物满 100 元可免费停车 2 小时。"),
        ("answer_en", "Spend 100 yuan for 2 hours of free parking."),
        ("keywords", "停车\n停车场"),
        ("examples", "停车要钱吗\nwhere do I park"),
    ];
    let saved = desk.post_csrf("/console/faq/new", &form).await;
    let location = saved.location.clone().expect("a redirect");
    assert!(location.ends_with("?done=saved"), "{location}");
    let again = desk.post_csrf("/console/faq/new", &form).await;
    assert_eq!(again.location, saved.location, "the same entry (by its id)");
    let entry_path = location.trim_end_matches("?done=saved").to_owned();
    let faq_id: i64 = entry_path.rsplit('/').next().unwrap().parse().unwrap();
    let page = desk.get(&location).await;
    assert!(page.body.contains("停车场可以免费停吗"), "{}", page.body);

    let (_, reply) = app
        .post(
            "/api/v1/faq/ask",
            None,
            json!({"text": "在你们那停车收费吗"}),
        )
        .await;
    assert_eq!(reply["faq_id"], faq_id, "{reply}");
    let page = desk
        .get("/console/faq?ask=%E5%81%9C%E8%BD%A6%E8%A6%81%E9%92%B1%E5%90%97")
        .await;
    assert!(page.body.contains("免费停车 2 小时"), "try the bot");

    // Edit, refused when the Chinese question is emptied.
    let bad = desk
        .post_csrf(&entry_path, &[("question_zh", " "), ("answer_zh", "x")])
        .await;
    assert_eq!(
        bad.location.as_deref(),
        Some(format!("{entry_path}?error=question_zh").as_str())
    );
    let edited = desk
        .post_csrf(
            &entry_path,
            &[
                ("question_zh", "停车场可以免费停吗？"),
                ("answer_zh", "购物满 88 元可免费停车 3 小时。"),
                ("keywords", "停车"),
                ("examples", "停车要钱吗"),
            ],
        )
        .await;
    assert!(edited.location.unwrap().ends_with("?done=saved"));
    let (_, reply) = app
        .post("/api/v1/faq/ask", None, json!({"text": "停车要钱吗"}))
        .await;
    assert!(reply["text"].as_str().unwrap().contains("88"), "{reply}");

    // Disabled: the bot no longer answers with it.
    let off = desk.post_csrf(&format!("{entry_path}/disable"), &[]).await;
    assert!(off.location.unwrap().ends_with("?done=disable"));
    let (_, reply) = app
        .post("/api/v1/faq/ask", None, json!({"text": "停车要钱吗"}))
        .await;
    assert_ne!(reply["faq_id"], faq_id, "{reply}");
    let admin = app.login("admin").await;
    let (_, entry) = app
        .get(&format!("/api/v1/faq/{faq_id}"), Some(&admin))
        .await;
    assert_eq!(entry["enabled"], false);

    // A store manager may not edit the knowledge base.
    let mut manager = console(&app, "mgr.sh001").await;
    let page = manager.get("/console/faq").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    console_pages_edit_the_knowledge_base,
    console_pages_edit_the_knowledge_base
);
