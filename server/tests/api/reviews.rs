//! Reviews with photos (晒单, issue 18) on SQLite and PostgreSQL: a review with a photo of a
//! delivered order's line published at once, earning the rule's points once (a retry writes
//! nothing more), with one follow-up; the product's summary (average, counts per star, with
//! photos) and its "with photos" filter; automatic holds (a banned word, too many links, the
//! same text again) waiting in head office's queue until approved (points then), hiding that
//! takes the points back (audited); "helpful" votes counted once per member in the shop; and
//! bad input — an order not completed, another member's order, a second review of a line, ten
//! photos or one never uploaded, a rating outside 1–5, an over-long text, a second follow-up —
//! answered with a clear error and nothing changed. Last, a shopper in a real browser reviews a
//! collected order's line with a photo, sees it on the product page with its star counts, and
//! head office hides it in the console.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::after_sales::{as_shopper, deliver};
use crate::both_backends;
use crate::support::TestApp;

/// An order of one unit each of `lines` stocked SKUs of different products at WH01 for a new
/// member, paid through the sandbox.
struct Bought {
    id: Uuid,
    token: String,
    member: Uuid,
    /// The product of each line, in line order (line 1 first).
    products: Vec<Uuid>,
}

async fn register(app: &TestApp, phone: &str) -> Uuid {
    crate::pricing::register_member_named(app, phone, "评价").await
}

async fn product_of(app: &TestApp, sku: &str) -> Uuid {
    let row = sqlx::query("SELECT product_id FROM skus WHERE id = $1")
        .bind(sku)
        .fetch_one(&mut *app.state.store.begin().await.unwrap())
        .await
        .unwrap();
    sqlx::Row::get::<String, _>(&row, 0).parse().unwrap()
}

/// A paid order (see [`Bought`]) of the member `member` (registered with `phone`).
async fn paid_order(app: &TestApp, phone: &str, member: Uuid, lines: usize) -> Bought {
    let admin = app.login("admin").await;
    let code = crate::pricing::member_code(app, &admin, member).await;
    let (_, stock) = app
        .get("/api/v1/stock?location_id=WH01&limit=200", Some(&admin))
        .await;
    let mut skus: Vec<(String, Uuid)> = Vec::new();
    for row in stock["items"].as_array().unwrap() {
        if row["available"].as_i64().unwrap_or(0) < 20 {
            continue;
        }
        let sku = row["sku_id"].as_str().unwrap().to_owned();
        let product = product_of(app, &sku).await;
        if !skus.iter().any(|(_, p)| *p == product) {
            skus.push((sku, product));
        }
        if skus.len() == lines {
            break;
        }
    }
    assert_eq!(skus.len(), lines, "{lines} stocked products at WH01");
    let order_lines: Vec<Value> = skus
        .iter()
        .map(|(sku, _)| json!({"sku_id": sku, "qty": 1}))
        .collect();
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "delivery",
                   "address": {"name": "李四", "phone": phone, "address": "上海市浦东新区世纪大道1号"},
                   "member_code": code, "lines": order_lines}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    crate::refund_approvals::pay_at_sandbox(app, id).await;
    // The order's lines are in the order asked for.
    let (_, view) = app.get(&format!("/api/v1/orders/{id}"), Some(&admin)).await;
    let products = {
        let mut out = Vec::new();
        for line in view["lines"].as_array().unwrap() {
            out.push(product_of(app, line["sku_id"].as_str().unwrap()).await);
        }
        out
    };
    Bought {
        id,
        token: order["access_token"].as_str().unwrap().to_owned(),
        member,
        products,
    }
}

/// A delivered order (see [`paid_order`]) of a new member.
async fn delivered(app: &TestApp, phone: &str, lines: usize) -> Bought {
    let member = register(app, phone).await;
    let order = paid_order(app, phone, member, lines).await;
    deliver(app, order.id).await;
    order
}

async fn shopper_post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    as_shopper(app, token, Method::POST, path, Some(body)).await
}

async fn upload(app: &TestApp, token: &str, order: Uuid) -> String {
    let resp = app
        .client
        .post(format!("{}/api/v1/orders/{order}/reviews/photos", app.url))
        .header("x-order-token", token)
        .header("content-type", "application/octet-stream")
        .body(crate::media::jpeg(320, 240))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["full"]["name"].as_str().unwrap().to_owned()
}

async fn review(
    app: &TestApp,
    order: &Bought,
    line: i64,
    rating: i64,
    text: &str,
    photos: &[String],
) -> (StatusCode, Value) {
    shopper_post(
        app,
        &order.token,
        &format!("/api/v1/orders/{}/reviews", order.id),
        json!({"id": Uuid::now_v7(), "line_no": line, "rating": rating, "body": text, "photos": photos}),
    )
    .await
}

async fn points(app: &TestApp, member: Uuid) -> i64 {
    retail_server::storage::members::points_balance(&app.state.store, member)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let row = sqlx::query(sql)
        .fetch_one(&mut *app.state.store.begin().await.unwrap())
        .await
        .unwrap();
    sqlx::Row::get::<i64, _>(&row, 0)
}

async fn set_rules(app: &TestApp, rules: Value) {
    let admin = app.login("admin").await;
    let (status, body) = app.put("/api/v1/reviews/rules", Some(&admin), rules).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn product_reviews(app: &TestApp, product: Uuid, query: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/products/{product}/reviews{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn star(summary: &Value, rating: i64) -> i64 {
    summary["by_star"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["rating"] == rating)
        .unwrap()["count"]
        .as_i64()
        .unwrap()
}

async fn a_review_with_a_photo_is_published_earns_points_once_and_takes_one_follow_up(
    app: TestApp,
) {
    set_rules(
        &app,
        json!({"banned_words": [], "max_links": 1, "points_review": 10, "points_photos": 5}),
    )
    .await;
    let order = delivered(&app, "13900180001", 2).await;
    let before = points(&app, order.member).await;
    let photo = upload(&app, &order.token, order.id).await;
    let id = Uuid::now_v7();
    let ask =
        json!({"id": id, "line_no": 1, "rating": 5, "body": "新鲜，包装完好！", "photos": [photo]});
    let path = format!("/api/v1/orders/{}/reviews", order.id);
    let (status, first) = shopper_post(&app, &order.token, &path, ask.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "published");
    assert_eq!(first["photos"], json!([photo]));
    assert_eq!(first["points"], 15);
    assert_eq!(first["product_id"], order.products[0].to_string());
    assert_eq!(points(&app, order.member).await, before + 15);
    // A retry answers the same review and credits nothing more.
    let (status, again) = shopper_post(&app, &order.token, &path, ask).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(points(&app, order.member).await, before + 15);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM reviews").await, 1);
    // The other line, without photos: 10 points, 3 stars.
    let (status, second) = review(&app, &order, 2, 3, "还行", &[]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["points"], 10);
    assert_eq!(points(&app, order.member).await, before + 25);
    // The order's reviews, for its token.
    let (status, mine) = as_shopper(
        &app,
        &order.token,
        Method::GET,
        &format!("/api/v1/orders/{}/reviews", order.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine.as_array().unwrap().len(), 2);

    // The product page's summary and the "with photos" filter.
    let first_product = product_reviews(&app, order.products[0], "").await;
    assert_eq!(first_product["summary"]["count"], 1);
    assert_eq!(first_product["summary"]["average"], 5.0);
    assert_eq!(star(&first_product["summary"], 5), 1);
    assert_eq!(first_product["summary"]["with_photos"], 1);
    let item = &first_product["page"]["items"][0];
    assert_eq!(item["id"], id.to_string());
    assert!(item.get("member_id").is_none() && item.get("order_id").is_none());
    let with_photos = product_reviews(&app, order.products[0], "?with_photos=true").await;
    assert_eq!(with_photos["page"]["items"].as_array().unwrap().len(), 1);
    let second_product = product_reviews(&app, order.products[1], "?with_photos=true").await;
    assert_eq!(second_product["summary"]["count"], 1);
    assert_eq!(star(&second_product["summary"], 3), 1);
    assert_eq!(second_product["summary"]["with_photos"], 0);
    assert!(second_product["page"]["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let threes = product_reviews(&app, order.products[1], "?rating=3").await;
    assert_eq!(threes["page"]["items"].as_array().unwrap().len(), 1);

    // One follow-up, retried once, then no second one.
    let follow = Uuid::now_v7();
    let follow_path = format!("/api/v1/reviews/{id}/follow-up");
    let body = json!({"id": follow, "body": "喝了一周，依然很好", "photos": []});
    let (status, with_follow) = shopper_post(&app, &order.token, &follow_path, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{with_follow}");
    assert_eq!(with_follow["follow_up"]["status"], "published");
    let (status, _) = shopper_post(&app, &order.token, &follow_path, body).await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = shopper_post(
        &app,
        &order.token,
        &follow_path,
        json!({"id": Uuid::now_v7(), "body": "再追一次"}),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("follow_up_exists")),
        "{refused}"
    );
    let shown = product_reviews(&app, order.products[0], "").await;
    assert_eq!(
        shown["page"]["items"][0]["follow_up"]["body"],
        "喝了一周，依然很好"
    );
    assert_eq!(points(&app, order.member).await, before + 25);
}
both_backends!(
    a_review_with_a_photo_is_published_earns_points_once_and_takes_one_follow_up,
    a_review_with_a_photo_is_published_earns_points_once_and_takes_one_follow_up
);

async fn held_reviews_wait_for_moderation_and_hiding_takes_the_points_back(app: TestApp) {
    set_rules(
        &app,
        json!({"banned_words": ["垃圾", " Spam "], "max_links": 1, "points_review": 8, "points_photos": 0}),
    )
    .await;
    let admin = app.login("admin").await;
    let order = delivered(&app, "13900180002", 3).await;
    let before = points(&app, order.member).await;
    let (_, banned) = review(&app, &order, 1, 1, "质量太垃圾了", &[]).await;
    assert_eq!(
        (&banned["status"], &banned["hold_reason"]),
        (&json!("held"), &json!("banned_word"))
    );
    let (_, links) = review(
        &app,
        &order,
        2,
        4,
        "详见 https://a.example 和 www.b.example",
        &[],
    )
    .await;
    assert_eq!(links["hold_reason"], "too_many_links");
    let (_, good) = review(&app, &order, 3, 5, "很好喝！", &[]).await;
    assert_eq!(good["status"], "published");
    assert_eq!(points(&app, order.member).await, before + 8);
    // The same text again, from the same member on another order: held as repeated.
    let next = paid_order(&app, "13900180002", order.member, 1).await;
    deliver(&app, next.id).await;
    // (That order earned purchase points of its own.)
    let before = points(&app, order.member).await - 8;
    let (_, repeated) = review(&app, &next, 1, 5, "很好喝", &[]).await;
    assert_eq!(repeated["hold_reason"], "repeated", "{repeated}");
    assert_eq!(points(&app, order.member).await, before + 8);
    // Nothing held shows on the product pages.
    let held_product = product_reviews(&app, order.products[0], "").await;
    assert_eq!(held_product["summary"]["count"], 0);

    // The queue, oldest first; a store manager may not moderate.
    let (status, queue) = app.get("/api/v1/reviews", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let held: Vec<&str> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hold_reason"].as_str().unwrap())
        .collect();
    assert_eq!(held, ["banned_word", "too_many_links", "repeated"]);
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app.get("/api/v1/reviews", Some(&manager)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let banned_id = banned["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/v1/reviews/{banned_id}/approve"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Approved: published, with its points; approving again changes nothing.
    for _ in 0..2 {
        let (status, approved) = app
            .post(
                &format!("/api/v1/reviews/{banned_id}/approve"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{approved}");
        assert_eq!(approved["status"], "published");
        assert_eq!(approved["points"], 8);
    }
    assert_eq!(points(&app, order.member).await, before + 16);
    let shown = product_reviews(&app, order.products[0], "").await;
    assert_eq!(shown["summary"]["count"], 1);
    assert_eq!(star(&shown["summary"], 1), 1);
    // The merchant's reply shows under it.
    let (status, _) = app
        .post(
            &format!("/api/v1/reviews/{banned_id}/reply"),
            Some(&admin),
            json!({"reply": "很抱歉，已联系您处理"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let shown = product_reviews(&app, order.products[0], "").await;
    assert_eq!(shown["page"]["items"][0]["reply"], "很抱歉，已联系您处理");

    // Hidden with a reason: off the page, the points taken back once, audited.
    let good_id = good["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/reviews/{good_id}/hide"),
            Some(&admin),
            json!({"reason": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for _ in 0..2 {
        let (status, hidden) = app
            .post(
                &format!("/api/v1/reviews/{good_id}/hide"),
                Some(&admin),
                json!({"reason": "刷单嫌疑"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{hidden}");
        assert_eq!(hidden["status"], "hidden");
        assert_eq!(hidden["hide_reason"], "刷单嫌疑");
        assert_eq!(hidden["points"], 0);
    }
    assert_eq!(points(&app, order.member).await, before + 8);
    let hidden_product = product_reviews(&app, order.products[2], "").await;
    assert_eq!(hidden_product["summary"]["count"], 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('review.approve', 'review.hide', 'review.reply', 'review.rules')"
        )
        .await,
        4
    );
    // Published again, it earns nothing more: points are earned once per review.
    let (_, again) = app
        .post(
            &format!("/api/v1/reviews/{good_id}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(
        (&again["status"], &again["points"]),
        (&json!("published"), &json!(0))
    );
    assert_eq!(points(&app, order.member).await, before + 8);
    // The queue keeps what is still held.
    let (_, queue) = app.get("/api/v1/reviews?status=held", Some(&admin)).await;
    assert_eq!(queue["items"].as_array().unwrap().len(), 2);
}
both_backends!(
    held_reviews_wait_for_moderation_and_hiding_takes_the_points_back,
    held_reviews_wait_for_moderation_and_hiding_takes_the_points_back
);

async fn members_vote_a_review_helpful_once(app: TestApp) {
    let order = delivered(&app, "13900180003", 1).await;
    let (status, written) = review(&app, &order, 1, 4, "不错", &[]).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    let id = written["id"].as_str().unwrap().to_owned();
    let product = order.products[0];
    let back = format!("/p/{product}");
    let mut voter = crate::web::shopper(&app, "13900180004").await;
    for _ in 0..2 {
        let page = voter
            .post_csrf(&format!("/reviews/{id}/helpful"), &[("back", &back)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert!(
            page.location.as_deref().unwrap_or("").starts_with(&back),
            "{:?}",
            page.location
        );
    }
    let shown = product_reviews(&app, product, "").await;
    assert_eq!(shown["page"]["items"][0]["helpful"], 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM review_votes").await, 1);
    // The product page shows the review, its stars and that this member found it helpful.
    let page = voter.get(&back).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("id=\"review-{id}\"")));
    assert!(page.body.contains("已觉得有用"), "voted shown");
    assert!(page.body.contains("id=\"review-count\">1<"));
    // The writer may not vote for their own review; a guest is sent to log in.
    let mut writer = crate::web::shopper(&app, "13900180003").await;
    let page = writer
        .post_csrf(&format!("/reviews/{id}/helpful"), &[("back", &back)])
        .await;
    assert!(
        page.location
            .as_deref()
            .unwrap_or("")
            .contains("review_error=own_review"),
        "{:?}",
        page.location
    );
    let mut guest = crate::web::Browser::new(&app);
    let page = guest
        .post_csrf(&format!("/reviews/{id}/helpful"), &[("back", &back)])
        .await;
    assert!(page.location.as_deref().unwrap_or("").starts_with("/login"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM review_votes").await, 1);
    // The writer's member centre lists the review.
    let mine = writer.get("/me/reviews").await;
    assert!(mine.body.contains(&format!("my-review-{id}")));
}
both_backends!(
    members_vote_a_review_helpful_once,
    members_vote_a_review_helpful_once
);

async fn bad_reviews_are_refused_and_change_nothing(app: TestApp) {
    let member = register(&app, "13900180005").await;
    let paid = paid_order(&app, "13900180005", member, 1).await;
    let path = format!("/api/v1/orders/{}/reviews", paid.id);
    let (status, body) = review(&app, &paid, 1, 5, "还没收到", &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_completed")),
        "{body}"
    );
    let order = delivered(&app, "13900180006", 1).await;
    let before = points(&app, order.member).await;
    let photo = upload(&app, &order.token, order.id).await;
    for (rating, text) in [(0, "ok"), (6, "ok"), (5, &*"好".repeat(501))] {
        let (status, body) = review(&app, &order, 1, rating, text, &[]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{rating}: {body}");
    }
    let ten: Vec<String> = (0..10).map(|_| photo.clone()).collect();
    let (status, body) = review(&app, &order, 1, 5, "ok", &ten).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("too_many_photos")),
        "{body}"
    );
    let never = format!("{}.jpg", "cd".repeat(32));
    let (status, _) = review(&app, &order, 1, 5, "ok", &[never]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = review(&app, &order, 9, 5, "ok", &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{}/reviews", order.id),
            None,
            json!({"id": Uuid::now_v7(), "line_no": 1, "rating": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another order's token does not open this one.
    let (status, _) = shopper_post(
        &app,
        &paid.token,
        &format!("/api/v1/orders/{}/reviews", order.id),
        json!({"id": Uuid::now_v7(), "line_no": 1, "rating": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM reviews").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM review_photos").await, 0);

    // One review of the line; a second one (another id) is refused; its id on another order too.
    let id = Uuid::now_v7();
    let (status, _) = shopper_post(
        &app,
        &order.token,
        &format!("/api/v1/orders/{}/reviews", order.id),
        json!({"id": id, "line_no": 1, "rating": 4, "body": "好", "photos": [photo]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = review(&app, &order, 1, 2, "改主意了", &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_reviewed")),
        "{body}"
    );
    let (status, body) = shopper_post(
        &app,
        &paid.token,
        &path,
        json!({"id": id, "line_no": 1, "rating": 4}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("id_in_use")),
        "{body}"
    );
    // Another member's order and review, in the shop: not found, nothing written.
    let mut other = crate::web::shopper(&app, "13900180005").await;
    let page = other
        .get(&format!("/orders/{}/review?line=1", order.id))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // The paid order offers no review yet.
    let page = other.get(&format!("/orders/{}", paid.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("review-line-1"));
    // The owner's page shows what went wrong, translated; the reviewed line offers a follow-up.
    let mut owner = crate::web::shopper(&app, "13900180006").await;
    let page = owner
        .get(&format!(
            "/orders/{}/review?line=1&error=already_reviewed",
            order.id
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("该商品已评价过"), "translated error");
    assert!(page.body.contains("id=\"follow-up-form\""));
    assert!(owner
        .get(&format!("/orders/{}", order.id))
        .await
        .body
        .contains("id=\"review-line-1\""));
    // Store managers do not moderate; head office finds the review in the console.
    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    assert_eq!(
        manager.get("/console/reviews").await.status,
        StatusCode::FORBIDDEN
    );
    let mut head_office = crate::web::console(&app, "admin").await;
    let queue = head_office.get("/console/reviews?status=all").await;
    assert!(queue.body.contains(&format!("id=\"review-{id}\"")));
    // Follow-ups: an empty one, then one too long, then the one, then a second.
    let follow_path = format!("/api/v1/reviews/{id}/follow-up");
    for text in ["  ", &*"追".repeat(501)] {
        let (status, _) = shopper_post(
            &app,
            &order.token,
            &follow_path,
            json!({"id": Uuid::now_v7(), "body": text}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _) = shopper_post(
        &app,
        &paid.token,
        &follow_path,
        json!({"id": Uuid::now_v7(), "body": "不是我的"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = shopper_post(
        &app,
        &order.token,
        &follow_path,
        json!({"id": Uuid::now_v7(), "body": "用了一周还不错"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = shopper_post(
        &app,
        &order.token,
        &follow_path,
        json!({"id": Uuid::now_v7(), "body": "再说一次"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("follow_up_exists"))
    );
    let written = retail_server::storage::reviews::get(&app.state.store, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written.rating, 4);
    assert_eq!(written.photos, vec![photo]);
    assert_eq!(
        written.follow_up.map(|f| f.body).as_deref(),
        Some("用了一周还不错")
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM reviews").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM review_photos").await, 1);
    let rules = retail_server::storage::reviews::rules(&app.state.store)
        .await
        .unwrap();
    assert_eq!(
        points(&app, order.member).await,
        before + rules.points_review + rules.points_photos
    );
    // Bad rules and a bad filter are refused too.
    let admin = app.login("admin").await;
    let (status, _) = app
        .put(
            "/api/v1/reviews/rules",
            Some(&admin),
            json!({"banned_words": [], "max_links": -1, "points_review": 0, "points_photos": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .get(
            &format!("/api/v1/products/{}/reviews?rating=6", order.products[0]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
both_backends!(
    bad_reviews_are_refused_and_change_nothing,
    bad_reviews_are_refused_and_change_nothing
);

/// A shopper collects a pickup order, reviews its line from the order page with five stars, a
/// text and a photo; it is published at once and the product page shows it with its star
/// counts and photo (also under "with photos"); head office finds it in the console's review
/// pages and hides it with a reason, and the product page no longer shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_reviews_a_collected_order_with_a_photo_and_head_office_hides_it() {
    use crate::browser::{
        browser, browser_available, click, console_login, milk, milk_for_pickup, on_element,
        start_driver, text_of, type_into, wait_for_text, wait_path, Shots,
    };
    use fantoccini::Locator;
    use retail_domain::order::OrderStatus;
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(crate::support::Backend::Sqlite)
        .await
        .expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let phone = browser(&driver, true).await;
    let path = milk_for_pickup(&phone, &app, "13700180001").await;
    let order_id: Uuid = path.trim_start_matches("/orders/").parse().unwrap();
    crate::bus::pay(&app, &order_id.to_string()).await;
    for to in [OrderStatus::ReadyForPickup, OrderStatus::PickedUp] {
        retail_server::app::orders::change_status(
            &app.state.store,
            order_id,
            to,
            "mgr.sh001",
            "test",
        )
        .await
        .unwrap();
    }

    // From the order page to the review form: five stars, a text and a photo.
    phone.goto(&format!("{}{path}", app.url)).await.unwrap();
    click(&phone, "#review-line-1").await;
    wait_path(&phone, &format!("/orders/{order_id}/review")).await;
    click(&phone, "#rating option[value='5']").await;
    type_into(&phone, "#review-body", "牛奶很新鲜，包装完好，推荐！").await;
    let photo = temp.path().join("milk.jpg");
    std::fs::write(&photo, crate::media::jpeg(800, 600)).unwrap();
    let photo_path = photo.to_str().unwrap().to_owned();
    on_element(&phone, "#review-photos", "attach a photo to", |el| {
        let photo_path = photo_path.clone();
        async move { el.send_keys(&photo_path).await }
    })
    .await;
    shots.take(&phone, "shop-review-form-phone").await;
    click(&phone, "#submit-review").await;
    wait_for_text(&phone, "#review-status", "已发布").await;
    assert!(
        phone
            .find(Locator::Css("#my-review .review-photos img"))
            .await
            .is_ok(),
        "the photo is shown"
    );
    shots.take(&phone, "shop-review-published-phone").await;
    let review = retail_server::storage::reviews::of_order(&app.state.store, order_id)
        .await
        .unwrap()
        .pop()
        .expect("the review");
    assert_eq!(review.rating, 5);
    assert_eq!(review.photos.len(), 1);

    // The product page: the average, the counts per star, the photo, the "with photos" filter.
    let product = milk(&app).await;
    phone
        .goto(&format!("{}/p/{product}#reviews", app.url))
        .await
        .unwrap();
    wait_for_text(&phone, "#review-count", "1").await;
    assert_eq!(text_of(&phone, "#review-average").await, "5.0");
    assert_eq!(
        text_of(&phone, "#star-counts [data-star='5'] .star-count").await,
        "1"
    );
    assert_eq!(
        text_of(&phone, "#star-counts [data-star='1'] .star-count").await,
        "0"
    );
    let shown = text_of(&phone, &format!("#review-{}", review.id)).await;
    assert!(shown.contains("牛奶很新鲜"), "{shown}");
    assert!(phone
        .find(Locator::Css(&format!(
            "#review-{} .review-photos img",
            review.id
        )))
        .await
        .is_ok());
    shots.take(&phone, "shop-product-reviews-phone").await;
    click(&phone, "#reviews-with-photos").await;
    wait_for_text(&phone, "#reviews-with-photos", "1").await;
    text_of(&phone, &format!("#review-{}", review.id)).await;

    // Head office hides it in the console.
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;
    click(&desk, "nav.side a[href='/console/reviews']").await;
    wait_path(&desk, "/console/reviews").await;
    desk.goto(&format!("{}/console/reviews?status=published", app.url))
        .await
        .unwrap();
    click(&desk, &format!("#review-{} a", review.id)).await;
    wait_for_text(&desk, "#review-status", "已发布").await;
    type_into(&desk, "#hide-reason", "含个人联系方式").await;
    shots.take(&desk, "console-review-desktop").await;
    click(&desk, "#hide-review").await;
    wait_for_text(&desk, "#review-status", "已隐藏").await;
    wait_for_text(&desk, "#review-hide-reason", "含个人联系方式").await;
    shots.take(&desk, "console-review-hidden-desktop").await;

    phone
        .goto(&format!("{}/p/{product}#reviews", app.url))
        .await
        .unwrap();
    wait_for_text(&phone, "#review-count", "0").await;
    text_of(&phone, "#no-reviews").await;
    let hidden = retail_server::storage::reviews::get(&app.state.store, review.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hidden.decided_by.as_deref(), Some("staff:admin"));
    assert_eq!(hidden.points, 0);
    phone.close().await.unwrap();
    desk.close().await.unwrap();
}

/// A member's reviews are in their data download, and deleting the account deletes them: text,
/// photos and follow-up gone, hidden from the product page, out of its summary.
async fn deleting_the_account_deletes_the_reviews(app: TestApp) {
    let phone = "13900190031";
    let order = delivered(&app, phone, 1).await;
    let photo = upload(&app, &order.token, order.id).await;
    let (status, written) = review(&app, &order, 1, 4, "包装很好，送得很快", &[photo]).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    assert_eq!(written["status"], "published", "{written}");
    let product = order.products[0];
    let before = product_reviews(&app, product, "").await;
    let mut b = crate::web::shopper(&app, phone).await;
    let data = b.get("/me/data").await;
    assert!(
        data.body.contains("包装很好，送得很快"),
        "the review is in the download"
    );
    let page = b.post_csrf("/me/delete", &[("confirm", "DELETE")]).await;
    assert!(page.status.is_redirection() || page.status.is_success());
    let after = product_reviews(&app, product, "").await;
    assert_eq!(
        after["summary"]["count"].as_i64().unwrap(),
        before["summary"]["count"].as_i64().unwrap() - 1,
        "{after}"
    );
    assert!(!after.to_string().contains("包装很好"), "{after}");
    let left = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM review_photos WHERE review_id = '{}'",
            written["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(left, 0, "the photos are gone");
}
crate::both_backends!(
    deleting_the_account_deletes_the_reviews,
    deleting_the_account_deletes_the_reviews
);
