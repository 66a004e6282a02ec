//! Customer-service chat (issue 18) over real WebSockets on both backends: the bot answers
//! first and hands over; an agent of the queue takes the conversation from the console and both
//! sides see each other live; a reconnecting client gets exactly what it missed; a resent
//! message is stored once; agents see only their queues and shoppers only their own
//! conversation; transfer, close, canned replies, working hours, search, images and cards; bad
//! frames, floods and other sites' pages are refused and change nothing.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use crate::support::TestApp;
use crate::web::{between, console, shopper, Browser};

/// A chat socket of a test client.
pub(crate) struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Socket {
    /// Opens `path` (with its query) as the browser `b`, from the server's own origin.
    pub(crate) async fn open(app: &TestApp, b: &Browser, path: &str) -> Socket {
        Self::try_open(app, b, path, &app.url)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Opens `path` as `b` with this `Origin`; the handshake's error when refused.
    pub(crate) async fn try_open(
        app: &TestApp,
        b: &Browser,
        path: &str,
        origin: &str,
    ) -> Result<Socket, String> {
        let url = format!("{}{path}", app.url.replacen("http", "ws", 1));
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        let headers = request.headers_mut();
        headers.insert("cookie", b.cookie_header().parse().unwrap());
        headers.insert("origin", origin.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Socket { ws })
    }

    pub(crate) async fn send(&mut self, frame: Value) {
        self.ws
            .send(Frame::Text(frame.to_string().into()))
            .await
            .unwrap();
    }

    /// The next JSON frame (pings skipped); `None` when the server closed the socket.
    pub(crate) async fn next(&mut self) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(15), self.ws.next())
                .await
                .expect("a frame within 15 s");
            match frame {
                Some(Ok(Frame::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads frames until one matches; panics when the socket closes first.
    pub(crate) async fn until(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self
                .next()
                .await
                .unwrap_or_else(|| panic!("closed before {what}"));
            if matches(&frame) {
                return frame;
            }
        }
    }

    /// The next message frame's message.
    pub(crate) async fn message(&mut self) -> Value {
        self.until("a message", |f| f["type"] == "message").await["message"].clone()
    }

    /// Sends a text and waits for its ack; answers the ack.
    pub(crate) async fn say(&mut self, text: &str, extra: Value) -> Value {
        let id = Uuid::now_v7();
        let mut frame = json!({"type": "send", "client_id": id, "kind": "text", "body": text});
        if let (Some(f), Some(e)) = (frame.as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        self.send(frame).await;
        self.until("the ack", |f| {
            (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == id.to_string()
        })
        .await
    }

    pub(crate) async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

async fn stored_messages(app: &TestApp, conversation: &str) -> i64 {
    scalar(
        app,
        "SELECT COUNT(*) FROM chat_messages WHERE conversation_id = $1",
        conversation,
    )
    .await
}

/// One value read from the database.
async fn scalar<T>(app: &TestApp, sql: &str, bind: &str) -> T
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    let mut tx = app.state.store.begin().await.unwrap();
    let value = sqlx::query_scalar(sql)
        .bind(bind.to_owned())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    value
}

/// The bot answers, hands over on request; head office takes the conversation; both sides see
/// each other live; a reconnect gets what was missed once; a resent message is stored once.
async fn bot_hands_over_and_an_agent_answers_live(app: TestApp) {
    let mut shop = shopper(&app, "13900180001").await;
    let page = shop.get("/chat").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"chat-log\""));
    let mut member = Socket::open(&app, &shop, "/chat/ws").await;
    let hello = member.next().await.unwrap();
    assert_eq!(hello["type"], "hello");
    assert!(hello["conversation"].is_null());

    let ack = member.say("转人工", json!({})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(ack["seq"], 1);
    let first = member.message().await;
    assert_eq!(first["sender"], "member");
    let note = member.message().await;
    assert_eq!(note["sender"], "system", "{note}");
    let moved = member
        .until("the hand-over", |f| f["type"] == "conversation")
        .await;
    assert_eq!(moved["conversation"]["status"], "waiting");

    // Head office's inbox lists it waiting; a cashier may not open the inbox.
    let mut admin = console(&app, "admin").await;
    let inbox = admin.get("/console/chat?view=waiting").await;
    assert!(inbox.body.contains(&conversation), "listed as waiting");
    let mut cashier = console(&app, "cashier1.sh001").await;
    assert_eq!(
        cashier.get("/console/chat").await.status,
        StatusCode::FORBIDDEN
    );

    let mut agent = Socket::open(
        &app,
        &admin,
        &format!("/console/chat/ws?conversation={conversation}"),
    )
    .await;
    assert_eq!(agent.next().await.unwrap()["type"], "hello");
    let history: Vec<Value> = vec![agent.message().await, agent.message().await];
    assert_eq!(history[0]["text"], "转人工");
    assert_eq!(history[1]["sender"], "system");

    let reply = agent
        .say(
            "您好，请问有什么可以帮您？",
            json!({"conversation_id": conversation}),
        )
        .await;
    assert_eq!(reply["type"], "ack", "{reply}");
    let live = member
        .until("the agent's answer", |f| {
            f["type"] == "message" && f["message"]["sender"] == "agent"
        })
        .await;
    assert_eq!(live["message"]["text"], "您好，请问有什么可以帮您？");
    assert_eq!(live["conversation"]["status"], "assigned");
    let seen = live["message"]["seq"].as_i64().unwrap();

    // The member answers; the agent sees it live.
    member.say("我的订单还没到", json!({})).await;
    let heard = agent
        .until("the member's message", |f| {
            f["type"] == "message" && f["message"]["sender"] == "member"
        })
        .await;
    assert_eq!(heard["message"]["text"], "我的订单还没到");

    // The member's socket drops; two answers come meanwhile; the reconnect gets exactly them.
    member.close().await;
    agent
        .say("正在为您查询", json!({"conversation_id": conversation}))
        .await;
    agent
        .say("已为您催促仓库", json!({"conversation_id": conversation}))
        .await;
    let mut member = Socket::open(
        &app,
        &shop,
        &format!("/chat/ws?conversation={conversation}&after={}", seen + 1),
    )
    .await;
    assert_eq!(member.next().await.unwrap()["type"], "hello");
    let missed = [member.message().await, member.message().await];
    assert_eq!(missed[0]["text"], "正在为您查询");
    assert_eq!(missed[1]["text"], "已为您催促仓库");

    // A message resent with the same id is stored once and answers the same number.
    let before = stored_messages(&app, &conversation).await;
    let id = Uuid::now_v7();
    let frame = json!({"type": "send", "client_id": id, "kind": "text", "body": "谢谢"});
    member.send(frame.clone()).await;
    let once = member
        .until("the ack", |f| {
            f["type"] == "ack" && f["client_id"] == id.to_string()
        })
        .await;
    member.send(frame).await;
    let twice = member
        .until("the second ack", |f| {
            f["type"] == "ack" && f["client_id"] == id.to_string()
        })
        .await;
    assert_eq!(once["seq"], twice["seq"]);
    assert_eq!(stored_messages(&app, &conversation).await, before + 1);

    // The inbox shows it taken by the admin; the member's unread count follows reading.
    let mine = admin.get("/console/chat?view=mine").await;
    assert!(mine.body.contains(&conversation));
    let member_id = crate::group_buys::new_member(&app, "13900180001").await;
    assert!(
        retail_server::app::chat::member_unread(&app.state, member_id)
            .await
            .unwrap()
            > 0
    );
    let last = twice["seq"].as_i64().unwrap();
    member.send(json!({"type": "read", "seq": last})).await;
    member.until("read", |f| f["type"] == "read").await;
    assert_eq!(
        retail_server::app::chat::member_unread(&app.state, member_id)
            .await
            .unwrap(),
        0
    );
}
crate::both_backends!(
    bot_hands_over_and_an_agent_answers_live,
    bot_hands_over_and_an_agent_answers_live
);

/// A store's conversation is answered by that store's manager and head office only; another
/// store's manager gets 403 everywhere; a shopper never reads another's conversation.
async fn agents_see_their_queues_and_shoppers_their_own(app: TestApp) {
    let (product, _) = crate::orders::some_sku(&app).await;
    let product_id: Uuid = scalar::<String>(
        &app,
        "SELECT product_id FROM skus WHERE id = $1",
        &product.to_string(),
    )
    .await
    .parse()
    .unwrap();
    let mut shop = shopper(&app, "13900180002").await;
    // The shopper picks up at SH001: a conversation from a product page goes to SH001's queue.
    shop.post_csrf("/pickup-store", &[("store", "SH001"), ("back", "/")])
        .await;
    let page = shop.get(&format!("/chat?product={product_id}")).await;
    assert!(
        page.body.contains("chat-send-context"),
        "the product card is offered"
    );
    let mut member = Socket::open(&app, &shop, "/chat/ws").await;
    member.next().await;
    let ack = member
        .say(
            "这个有货吗？转人工",
            json!({"context": format!("product:{product_id}")}),
        )
        .await;
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();
    let card =
        json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "product", "body": product_id});
    member.send(card).await;
    let sent = member
        .until("the card", |f| {
            f["type"] == "message" && f["message"]["kind"] == "product"
        })
        .await;
    assert!(sent["message"]["card"]["name_zh"].is_string(), "{sent}");
    let queue: String = scalar(
        &app,
        "SELECT queue FROM chat_conversations WHERE id = $1",
        &conversation,
    )
    .await;
    let store_queue = if queue == "SH001" { "SH001" } else { "hq" };

    let mut own = console(&app, "mgr.sh001").await;
    let mut other = console(&app, "mgr.sh002").await;
    let open = own
        .get(&format!("/console/chat?view=open&c={conversation}"))
        .await;
    let other_page = other
        .get(&format!("/console/chat?view=open&c={conversation}"))
        .await;
    if store_queue == "SH001" {
        assert_eq!(open.status, StatusCode::OK);
        assert!(open.body.contains("recent-orders"));
        assert_eq!(other_page.status, StatusCode::FORBIDDEN);
        assert!(!other
            .get("/console/chat?view=open")
            .await
            .body
            .contains(&conversation));
        // The other store's manager cannot open its socket nor send in it.
        let refused = Socket::try_open(
            &app,
            &other,
            &format!("/console/chat/ws?conversation={conversation}"),
            &app.url,
        )
        .await;
        assert!(refused.is_err(), "another store's manager is refused");
    } else {
        panic!("a product conversation with a pickup store goes to that store, got {queue}");
    }

    // Another shopper's socket, naming this conversation, gets only their own (none).
    let intruder = shopper(&app, "13900180003").await;
    let mut theirs = Socket::open(
        &app,
        &intruder,
        &format!("/chat/ws?conversation={conversation}&after=0"),
    )
    .await;
    let hello = theirs.next().await.unwrap();
    assert!(hello["conversation"].is_null(), "{hello}");
    // Sending a card of another member's order is refused.
    let foreign = json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "order", "body": Uuid::now_v7()});
    theirs.send(foreign).await;
    let refused = theirs.until("refusal", |f| f["type"] == "error").await;
    assert_eq!(refused["code"], "not_found");

    // Head office searches every conversation; a store manager may not.
    let mut admin = console(&app, "admin").await;
    let found = admin.get("/console/chat/search?q=%E6%9C%89%E8%B4%A7").await;
    assert!(found.body.contains(&conversation), "found by its text");
    assert_eq!(
        own.get("/console/chat/search?q=x").await.status,
        StatusCode::FORBIDDEN
    );
}
crate::both_backends!(
    agents_see_their_queues_and_shoppers_their_own,
    agents_see_their_queues_and_shoppers_their_own
);

/// Transfer, close (the next message opens a new conversation), canned replies, working hours
/// (outside them the member is told), images, and saving an answer as an FAQ entry.
async fn agents_transfer_close_and_keep_canned_replies(app: TestApp) {
    let mut admin = console(&app, "admin").await;
    // Head office's queue is closed now: the hand-over says when agents are back.
    let now = chrono::Utc::now().with_timezone(&retail_server::app::china_offset());
    let minute =
        i64::from(chrono::Timelike::hour(&now)) * 60 + i64::from(chrono::Timelike::minute(&now));
    let (opens, closes) = if minute < 600 { (720, 780) } else { (0, 60) };
    let hours = admin
        .post_csrf(
            "/console/chat/hours",
            &[
                ("queue", "hq"),
                ("opens", &format!("{:02}:{:02}", opens / 60, opens % 60)),
                ("closes", &format!("{:02}:{:02}", closes / 60, closes % 60)),
            ],
        )
        .await;
    assert_eq!(hours.status, StatusCode::SEE_OTHER);
    assert_eq!(
        hours.location.as_deref(),
        Some("/console/chat/settings?done=1")
    );
    let bad = admin
        .post_csrf(
            "/console/chat/hours",
            &[("queue", "hq"), ("opens", "21:00"), ("closes", "09:00")],
        )
        .await;
    assert_eq!(
        bad.location.as_deref(),
        Some("/console/chat/settings?error=hours")
    );

    let canned = admin
        .post_csrf(
            "/console/chat/canned",
            &[
                ("id", &Uuid::now_v7().to_string()),
                ("queue", "hq"),
                ("title", "问候"),
                ("body", "您好，很高兴为您服务"),
            ],
        )
        .await;
    assert_eq!(canned.status, StatusCode::SEE_OTHER);
    let settings = admin.get("/console/chat/settings").await;
    assert!(settings.body.contains("很高兴为您服务"));

    let mut shop = shopper(&app, "13900180004").await;
    let mut member = Socket::open(&app, &shop, "/chat/ws").await;
    let hello = member.next().await.unwrap();
    assert_eq!(hello["open"], false, "{hello}");
    let ack = member.say("人工客服", json!({})).await;
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();
    let note = member
        .until("the away note", |f| {
            f["type"] == "message" && f["message"]["sender"] == "system"
        })
        .await;
    assert!(
        note["message"]["text"]
            .as_str()
            .unwrap()
            .contains("非工作时间"),
        "{note}"
    );

    // An image: uploaded with the page's CSRF token, then sent by name.
    let token = between(
        &shop.get("/chat").await.body,
        "name=\"csrf\" content=\"",
        "\"",
    )
    .to_owned();
    let upload = app
        .client
        .post(format!("{}/chat/images", app.url))
        .header("cookie", shop.cookie_header())
        .header("x-csrf-token", &token)
        .body(crate::media::jpeg(64, 48))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::OK);
    let image: Value = upload.json().await.unwrap();
    let no_token = app
        .client
        .post(format!("{}/chat/images", app.url))
        .header("cookie", shop.cookie_header())
        .body(crate::media::jpeg(64, 48))
        .send()
        .await
        .unwrap();
    assert_ne!(
        no_token.status(),
        StatusCode::OK,
        "no CSRF token, no upload"
    );
    member
        .send(json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "image", "body": image["name"]}))
        .await;
    let shown = member
        .until("the image", |f| {
            f["type"] == "message" && f["message"]["kind"] == "image"
        })
        .await;
    let url = shown["message"]["image"].as_str().unwrap().to_owned();
    assert_eq!(shop.get_bytes(&url).await.0, StatusCode::OK);

    // The admin takes it, answers, saves the answer as an FAQ entry, transfers it to SH001.
    let take = admin
        .post_csrf(&format!("/console/chat/{conversation}/take"), &[])
        .await;
    assert_eq!(take.status, StatusCode::SEE_OTHER);
    let mut agent = Socket::open(
        &app,
        &admin,
        &format!("/console/chat/ws?conversation={conversation}"),
    )
    .await;
    let answer = agent
        .say(
            "自提订单备好后会短信通知您，请凭取货码到门店服务台取货",
            json!({"conversation_id": conversation}),
        )
        .await;
    let faq = admin
        .post_csrf(
            &format!("/console/chat/{conversation}/faq"),
            &[("seq", &answer["seq"].to_string())],
        )
        .await;
    assert_eq!(faq.status, StatusCode::OK, "{}", faq.body);
    assert!(faq.body.contains("faq_id"));
    let not_an_answer = admin
        .post_csrf(
            &format!("/console/chat/{conversation}/faq"),
            &[("seq", "1")],
        )
        .await;
    assert_eq!(not_an_answer.status, StatusCode::UNPROCESSABLE_ENTITY);

    let moved = admin
        .post_csrf(
            &format!("/console/chat/{conversation}/transfer"),
            &[("to", "queue:SH001")],
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER);
    let mut manager = console(&app, "mgr.sh001").await;
    assert!(manager
        .get("/console/chat?view=waiting")
        .await
        .body
        .contains(&conversation));
    let closed = manager
        .post_csrf(&format!("/console/chat/{conversation}/close"), &[])
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    // Closed: the agent's send is refused; the member's next message opens a new conversation.
    let refused = agent
        .say("还在吗", json!({"conversation_id": conversation}))
        .await;
    assert_eq!(refused["type"], "error");
    assert_ne!(refused["code"], "internal");
    let next = member.say("你好", json!({})).await;
    assert_ne!(next["conversation_id"].as_str().unwrap(), conversation);
}
crate::both_backends!(
    agents_transfer_close_and_keep_canned_replies,
    agents_transfer_close_and_keep_canned_replies
);

/// Bad frames, oversized texts, unknown kinds, images never uploaded, other sites' pages,
/// anonymous sockets and floods: refused, nothing stored.
async fn bad_frames_and_floods_change_nothing(app: TestApp) {
    let anonymous = Browser::new(&app);
    assert!(
        Socket::try_open(&app, &anonymous, "/chat/ws", &app.url)
            .await
            .is_err(),
        "a socket needs a logged-in member"
    );
    let shop = shopper(&app, "13900180005").await;
    assert!(
        Socket::try_open(&app, &shop, "/chat/ws", "https://evil.example")
            .await
            .is_err(),
        "another site's page may not open the shopper's socket"
    );
    let mut member = Socket::open(&app, &shop, "/chat/ws").await;
    member.next().await;
    let count = || async {
        scalar::<i64>(
            &app,
            "SELECT COUNT(*) FROM chat_messages WHERE $1 = $1",
            "all",
        )
        .await
    };
    let before = count().await;
    let long = "长".repeat(1001);
    let cases = [
        (
            json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "text", "body": long}),
            "message_too_long",
        ),
        (
            json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "text", "body": "  "}),
            "message_empty",
        ),
        (
            json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "video", "body": "x"}),
            "validation_failed",
        ),
        (
            json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "image", "body": format!("{}.jpg", "a".repeat(64))}),
            "validation_failed",
        ),
        (
            json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "text", "body": "a\u{0}b"}),
            "validation_failed",
        ),
        (
            json!({"type": "send", "client_id": "not-a-uuid", "kind": "text", "body": "hi"}),
            "bad_frame",
        ),
        (json!({"type": "shout"}), "bad_frame"),
    ];
    for (frame, code) in cases {
        member.send(frame.clone()).await;
        let error = member.until("an error", |f| f["type"] == "error").await;
        assert_eq!(error["code"], code, "{frame} → {error}");
    }
    member
        .ws
        .send(Frame::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let error = member.until("an error", |f| f["type"] == "error").await;
    assert_eq!(error["code"], "bad_frame");
    assert_eq!(count().await, before, "nothing stored");

    // A frame over the limit closes the socket.
    let mut big = Socket::open(&app, &shop, "/chat/ws").await;
    big.next().await;
    big.send(json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "text", "body": "x".repeat(20_000)}))
        .await;
    assert!(
        big.next().await.is_none(),
        "an oversized frame closes the socket"
    );
    assert_eq!(count().await, before);

    // A flood: pings past the burst are refused as rate_limited, then the socket is closed
    // (after 50 refused in a row: one ping a second refills the bucket here, so a loaded
    // machine that takes its time over the flood still sees 50 in a row).
    let mut limited = 0;
    for _ in 0..1_000 {
        if member
            .ws
            .send(Frame::Text(json!({"type": "ping"}).to_string().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    // Reads until the server closes the socket (a read that waits 15 s fails the test).
    while let Some(frame) = member.next().await {
        if frame["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(limited > 0, "pings past the burst are refused");
    assert_eq!(count().await, before);
}
crate::both_backends!(
    bad_frames_and_floods_change_nothing,
    bad_frames_and_floods_change_nothing,
    super::one_message_a_second
);

/// Chat sockets refill one message a second (bursts of 20 as by default).
fn one_message_a_second(settings: &mut retail_server::config::Settings) {
    settings.chat.messages_per_second = 1;
}

/// The member's data download holds their chat; deleting the account blanks it.
async fn deleting_the_account_blanks_the_chat(app: TestApp) {
    let mut shop = shopper(&app, "13900180006").await;
    let mut member = Socket::open(&app, &shop, "/chat/ws").await;
    member.next().await;
    let ack = member
        .say("我的手机号是 13900180006，请转人工", json!({}))
        .await;
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();
    member.close().await;
    let data = shop.get("/me/data").await;
    assert!(
        data.body.contains("请转人工"),
        "the download holds the chat"
    );
    let page = shop.post_csrf("/me/delete", &[("confirm", "DELETE")]).await;
    assert!(page.status.is_redirection() || page.status.is_success());
    let left: i64 = scalar(
        &app,
        "SELECT COUNT(*) FROM chat_messages WHERE conversation_id = $1 AND body <> ''",
        &conversation,
    )
    .await;
    assert_eq!(left, 0, "every message blanked");
    let status: String = scalar(
        &app,
        "SELECT status FROM chat_conversations WHERE id = $1",
        &conversation,
    )
    .await;
    assert_eq!(status, "closed");
}
crate::both_backends!(
    deleting_the_account_blanks_the_chat,
    deleting_the_account_blanks_the_chat
);

/// In real browsers: a shopper asks the bot about their pickup order from the order page and
/// gets an answer, asks for a person; the store's manager takes the conversation in the console
/// inbox and answers; each sees the other's messages live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_asks_the_bot_then_an_agent_answers_live() {
    use crate::browser::{
        browser, browser_available, click, console_login, milk_for_pickup, start_driver, type_into,
        wait_for_text, wait_path, Shots,
    };
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
    let order_page = milk_for_pickup(&phone, &app, "13800138071").await;
    let order: Uuid = order_page
        .trim_start_matches("/orders/")
        .split(['/', '?'])
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let order_no: String = scalar(
        &app,
        "SELECT order_no FROM orders WHERE id = $1",
        &order.to_string(),
    )
    .await;

    // The header's 客服 link carries the order; the chat offers it as a card.
    click(&phone, "#chat-link").await;
    wait_path(&phone, "/chat").await;
    wait_for_text(&phone, "#chat-status", "已连接").await;
    click(&phone, "#chat-send-context").await;
    wait_for_text(&phone, "#chat-log", &order_no).await;
    type_into(&phone, "#chat-text", "我的订单什么时候可以自提？").await;
    click(&phone, "#chat-send").await;
    // The bot answers from the shopper's own order: its number, and that it is not paid yet.
    wait_for_text(&phone, "#chat-log .msg.from-bot", &order_no).await;
    wait_for_text(&phone, "#chat-log .msg.from-bot", "还没有付款").await;
    shots.take(&phone, "shop-chat-bot-360").await;
    click(&phone, "#chat-human").await;
    wait_for_text(&phone, "#chat-log .msg.from-system", "").await;

    // The store's manager sees it waiting, opens it and answers.
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "mgr.sh001").await;
    desk.goto(&format!("{}/console/chat?view=waiting", app.url))
        .await
        .unwrap();
    click(&desk, "#inbox-list .inbox-item a").await;
    wait_for_text(&desk, "#chat-status", "已连接").await;
    wait_for_text(&desk, "#chat-log", "什么时候可以自提").await;
    wait_for_text(&desk, "#recent-orders", &order_no).await;
    type_into(
        &desk,
        "#chat-text",
        "您好，订单备好后会通知您，今天下午即可到店自提",
    )
    .await;
    click(&desk, "#chat-send").await;
    wait_for_text(&phone, "#chat-log", "今天下午即可到店自提").await;

    // The shopper answers; the manager sees it without reloading.
    type_into(&phone, "#chat-text", "好的，谢谢！").await;
    click(&phone, "#chat-send").await;
    wait_for_text(&desk, "#chat-log", "好的，谢谢").await;
    shots.take(&desk, "console-chat-inbox").await;
    shots.take(&phone, "shop-chat-agent-360").await;
    phone.close().await.unwrap();
    desk.close().await.unwrap();
}

/// The bot answers from the knowledge base (an over-long question too, never an error); a reply
/// to a member who is not connected reaches them through the notification service once; the
/// dashboard shows the bot's rates.
async fn the_bot_answers_and_offline_members_are_told(app: TestApp) {
    let member_id = crate::group_buys::new_member(&app, "13900180007").await;
    let mut shop = shopper(&app, "13900180007").await;
    let mut member = Socket::open(&app, &shop, "/chat/ws").await;
    member.next().await;
    member.say("买多少钱可以免运费啊", json!({})).await;
    let answer = member
        .until("the bot's answer", |f| {
            f["type"] == "message" && f["message"]["sender"] == "bot"
        })
        .await;
    assert!(answer["message"]["faq_id"].is_i64(), "{answer}");
    assert!(
        answer["message"]["text"]
            .as_str()
            .unwrap()
            .contains("免运费"),
        "{answer}"
    );
    let long = format!("{}运费", "请问".repeat(300));
    let ack = member.say(&long, json!({})).await;
    assert_eq!(ack["type"], "ack", "a long question is kept: {ack}");
    let ack = member.say("转人工", json!({})).await;
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();
    member.close().await;
    for _ in 0..100 {
        if !app.state.chat.member_online(member_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!app.state.chat.member_online(member_id));

    let mut admin = console(&app, "admin").await;
    let mut agent = Socket::open(
        &app,
        &admin,
        &format!("/console/chat/ws?conversation={conversation}"),
    )
    .await;
    let reply = agent
        .say("您好，已为您查询", json!({"conversation_id": conversation}))
        .await;
    assert_eq!(reply["type"], "ack", "{reply}");
    let told: i64 = scalar(
        &app,
        "SELECT COUNT(*) FROM account_notices WHERE member_id = $1 AND kind = 'chat_reply'",
        &member_id.to_string(),
    )
    .await;
    assert_eq!(told, 1, "the offline member is told once");
    let centre = shop.get("/me/messages").await;
    assert!(centre.body.contains("客服回复"), "in the message centre");
    let me = shop.get("/me").await;
    assert!(
        me.body.contains("id=\"chat-unread\""),
        "the member centre counts it"
    );

    let stats = retail_server::app::chat::stats(&app.state, 0)
        .await
        .unwrap();
    assert_eq!(stats.conversations, 1);
    assert_eq!(stats.handed_over, 1);
    assert!(stats.bot_answers >= 1);
    let dashboard = admin.get("/console").await;
    let expected = format!(
        "{:.0}%",
        stats.bot_answers as f64 * 100.0 / (stats.bot_answers + stats.handed_over) as f64
    );
    assert!(
        between(&dashboard.body, "id=\"kpi-bot-answers\">", "<").contains(&expected),
        "the dashboard shows the bot's answer rate {expected}"
    );
    assert_eq!(
        between(&dashboard.body, "id=\"kpi-handed-over\">", "<"),
        "100%"
    );
}
crate::both_backends!(
    the_bot_answers_and_offline_members_are_told,
    the_bot_answers_and_offline_members_are_told
);
