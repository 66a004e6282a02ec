//! Several instances on one database (issue 20, docs/OPERATIONS.md): job leases, shared rate
//! windows, and — with two in-process servers on one fresh PostgreSQL database — cache
//! invalidation, chat relayed between instances, and import jobs seen from any instance.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use retail_server::app::chat::{ChatEvent, ConversationView, ALL_TOPIC};
use retail_server::app::cluster::leased;
use retail_server::app::limits::{Limit, RateLimiter};
use retail_server::app::{catalog_import, shop_session};
use retail_server::error::AppError;
use retail_server::storage::{self, cluster as shared};
use uuid::Uuid;

use serde_json::json;

use crate::chat::Socket;
use crate::support::{Backend, TestApp};
use crate::web::{console, shopper};

/// Two instances asking for one lease at once: exactly one gets it; it is kept for `hold`
/// after a run, freed at once after a failure.
async fn a_job_lease_has_one_holder(app: TestApp) {
    let store = &app.state.store;
    let now = storage::now_ms();
    let job = format!("test.{}", Uuid::now_v7().simple());
    let (a, b) = (
        shared::take_lease(store, &job, "a", now, now + 60_000),
        shared::take_lease(store, &job, "b", now, now + 60_000),
    );
    let (a, b) = tokio::join!(a, b);
    assert!(
        a.unwrap() ^ b.unwrap(),
        "exactly one instance holds the lease"
    );
    let holder = if shared::take_lease(store, &job, "a", now, now + 60_000)
        .await
        .unwrap()
    {
        "a"
    } else {
        "b"
    };
    let other = if holder == "a" { "b" } else { "a" };
    assert!(!shared::take_lease(store, &job, other, now, now + 60_000)
        .await
        .unwrap());
    // Freed: the other takes it.
    assert!(shared::set_lease(store, &job, holder, 0).await.unwrap());
    assert!(shared::take_lease(store, &job, other, now, now + 60_000)
        .await
        .unwrap());
    assert!(!shared::set_lease(store, &job, holder, 0).await.unwrap());

    // `leased`: a run keeps the job for its hold; a failed run frees it.
    let job = format!("test.{}", Uuid::now_v7().simple());
    let ran = leased(&app.state, &job, Duration::from_secs(3600), async {
        Ok::<_, AppError>(7)
    })
    .await
    .unwrap();
    assert_eq!(ran, Some(7));
    assert!(
        !shared::take_lease(store, &job, "another-instance", storage::now_ms(), 0)
            .await
            .unwrap(),
        "held for the hour after the run"
    );
    let job = format!("test.{}", Uuid::now_v7().simple());
    let failed = leased(&app.state, &job, Duration::from_secs(3600), async {
        Err::<(), _>(AppError::not_found("nothing"))
    })
    .await;
    assert!(failed.is_err());
    assert!(
        shared::take_lease(store, &job, "another-instance", storage::now_ms(), 1)
            .await
            .unwrap(),
        "a failed run frees the job for any instance"
    );
    let leases = shared::leases(store).await.unwrap();
    assert!(leases
        .iter()
        .any(|l| l.job == job && l.holder == "another-instance"));
}
crate::both_backends!(a_job_lease_has_one_holder, a_job_lease_has_one_holder);

/// Two limiters on one database (two instances) count one window: the limit holds whichever
/// instance a request reaches; several limits count all or nothing; a log-in's reset and refund
/// reach both.
async fn rate_windows_are_shared(app: TestApp) {
    let a = RateLimiter::shared(app.state.store.clone());
    let b = RateLimiter::shared(app.state.store.clone());
    let key = format!("test:{}", Uuid::now_v7().simple());
    a.check(&key, 3).await.unwrap();
    b.check(&key, 3).await.unwrap();
    a.check(&key, 3).await.unwrap();
    for limiter in [&a, &b] {
        assert!(matches!(
            limiter.check(&key, 3).await,
            Err(AppError::RateLimited { retry_after_secs }) if (1..=61).contains(&retry_after_secs)
        ));
    }
    b.reset(&key).await;
    a.check(&key, 3).await.unwrap();
    b.refund(&key).await;
    for _ in 0..3 {
        b.check(&key, 3).await.unwrap();
    }
    assert!(a.check(&key, 3).await.is_err());

    // All or nothing: a used-up limit leaves the other uncounted.
    let phone = format!("phone:{}", Uuid::now_v7().simple());
    let addr = format!("addr:{}", Uuid::now_v7().simple());
    let limits = |p: &str| {
        vec![
            Limit::new(p.to_owned(), 1, Duration::from_secs(60)),
            Limit::new(addr.clone(), 2, Duration::from_secs(86_400)),
        ]
    };
    a.check_all(&limits(&phone)).await.unwrap();
    for _ in 0..3 {
        assert!(b.check_all(&limits(&phone)).await.is_err());
    }
    b.check_all(&limits(&format!("{phone}-2"))).await.unwrap();
    assert!(matches!(
        a.check_all(&limits(&format!("{phone}-3"))).await,
        Err(AppError::RateLimited { retry_after_secs }) if retry_after_secs > 60
    ));
    // Expired windows are swept; live ones stay.
    a.sweep().await.unwrap();
    assert!(b.check(&key, 3).await.is_err());
}
crate::both_backends!(rate_windows_are_shared, rate_windows_are_shared);

fn two_instances(settings: &mut retail_server::config::Settings) {
    settings.cluster.instances = 2;
    settings.cluster.instance_id = "first".into();
}

/// Polls `done` every 10 ms for at most 10 s; answers how long it took.
async fn within(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Two servers on one PostgreSQL database: what one changes, the other's caches drop (through
/// `NOTIFY`); a chat event published on one reaches a socket subscribed on the other, and a
/// shopper's WebSocket on one and an agent's on the other talk live; an import
/// started on one is seen, with its owner and outcome, from the other; rate limits are counted
/// in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_caches_chat_and_imports() {
    let Some(first) = TestApp::spawn_with(Backend::Postgres, two_instances).await else {
        return;
    };
    let mut settings = first.settings.clone();
    settings.cluster.instance_id = "second".into();
    let second = TestApp::start(settings).await.unwrap();
    assert!(first.state.limiter.is_shared() && second.state.limiter.is_shared());
    for app in [&first, &second] {
        let cluster = app.state.cluster.clone();
        within("listening", || cluster.listening.load(Ordering::Acquire)).await;
    }

    // A session cached on the second instance, logged out on the first.
    let sid = format!("sid-{}", Uuid::now_v7().simple());
    let session = shop_session::ensure_session(&second.state, &sid)
        .await
        .unwrap();
    assert!(shop_session::session(&second.state, &sid)
        .await
        .unwrap()
        .is_some());
    let seen = second.state.cluster.received.load(Ordering::Acquire);
    shop_session::rekey_session(&first.state, &sid, session.id, "sid-new", None)
        .await
        .unwrap();
    let cluster = second.state.cluster.clone();
    let took = within("the session's invalidation", || {
        cluster.received.load(Ordering::Acquire) > seen
    })
    .await;
    println!("session invalidation reached the other instance after {took:?}");
    assert!(
        shop_session::session(&second.state, &sid)
            .await
            .unwrap()
            .is_none(),
        "the old token is gone on the other instance at once"
    );

    // A catalog change announces itself from its transaction.
    let seen = first.state.cluster.received.load(Ordering::Acquire);
    let seen_second = second.state.cluster.received.load(Ordering::Acquire);
    let mut tx = first.state.store.begin().await.unwrap();
    storage::catalog::bump_all(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let took = within("the catalog's invalidation", || {
        cluster.received.load(Ordering::Acquire) > seen_second
    })
    .await;
    println!("catalog invalidation reached the other instance after {took:?}");
    let own = first.state.cluster.clone();
    within("the catalog's invalidation on its own instance", || {
        own.received.load(Ordering::Acquire) > seen
    })
    .await;

    // Chat: published on the first, delivered to a socket on the second.
    let mut subscription = second.state.chat.subscribe(vec![ALL_TOPIC.to_owned()]);
    let conversation = Uuid::now_v7();
    first.state.chat.publish(ChatEvent::Conversation {
        conversation: ConversationView {
            id: conversation,
            member_id: Uuid::now_v7(),
            queue: "head_office".into(),
            status: "open".into(),
            agent_id: None,
            agent_name: Some("客服".into()),
            last_seq: 3,
            unread_by_agent: 1,
            updated_at: storage::now_ms(),
        },
    });
    let event = tokio::time::timeout(Duration::from_secs(10), subscription.events.recv())
        .await
        .expect("the event reaches the other instance")
        .expect("an event");
    assert_eq!(event.conversation().id, conversation);
    assert_eq!(event.conversation().agent_name.as_deref(), Some("客服"));

    // Real sockets: a shopper on the first instance, head office's agent on the second; each
    // sees the other's messages live, and the shopper's reconnect to the second instance gets
    // what it missed.
    let shop = shopper(&first, "13900200001").await;
    let mut member = Socket::open(&first, &shop, "/chat/ws").await;
    assert_eq!(member.next().await.unwrap()["type"], "hello");
    let ack = member.say("转人工", json!({})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();
    member
        .until("the hand-over", |f| {
            f["type"] == "conversation" && f["conversation"]["status"] == "waiting"
        })
        .await;
    let admin = console(&second, "admin").await;
    let mut agent = Socket::open(
        &second,
        &admin,
        &format!("/console/chat/ws?conversation={conversation}"),
    )
    .await;
    assert_eq!(agent.next().await.unwrap()["type"], "hello");
    let reply = agent
        .say("您好，这里是客服", json!({"conversation_id": conversation}))
        .await;
    assert_eq!(reply["type"], "ack", "{reply}");
    let live = member
        .until("the agent's answer from the other instance", |f| {
            f["type"] == "message" && f["message"]["sender"] == "agent"
        })
        .await;
    assert_eq!(live["message"]["text"], "您好，这里是客服");
    let seen = live["message"]["seq"].as_i64().unwrap();
    member.say("我的订单还没到", json!({})).await;
    let heard = agent
        .until("the shopper's message from the other instance", |f| {
            f["type"] == "message" && f["message"]["sender"] == "member"
        })
        .await;
    assert_eq!(heard["message"]["text"], "我的订单还没到");
    member.close().await;
    agent
        .say("正在为您查询", json!({"conversation_id": conversation}))
        .await;
    let mut member = Socket::open(
        &second,
        &shop,
        &format!("/chat/ws?conversation={conversation}&after={}", seen + 1),
    )
    .await;
    assert_eq!(member.next().await.unwrap()["type"], "hello");
    assert_eq!(member.message().await["text"], "正在为您查询");
    member.close().await;
    agent.close().await;

    // An import started on the first, followed from the second.
    let job = Uuid::now_v7();
    let csv = "product_code,name_zh,name_en,brand,category_id,sku_code,spec_zh,spec_en,unit,price,member_price,barcodes\n\
               P1,酸奶,Yogurt,乳,NO-SUCH-CATEGORY,P1-1,200g,200g,盒,6.50,,6901234567892\n";
    catalog_import::start(&first.state, job, "staff:admin", csv.as_bytes().to_vec())
        .await
        .unwrap();
    let seen = catalog_import::job(&second.state, job).await.unwrap();
    assert_eq!(seen.as_ref().map(|j| j.owner.as_str()), Some("staff:admin"));
    let start = Instant::now();
    loop {
        let job = catalog_import::job(&second.state, job)
            .await
            .unwrap()
            .unwrap();
        if let catalog_import::Phase::Refused(errors) = job.phase() {
            assert!(
                errors
                    .iter()
                    .any(|e| e.line == 2 && e.message.contains("category")),
                "{errors:?}"
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the import ends");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A resent form starts nothing new.
    catalog_import::start(&second.state, job, "staff:admin", Vec::new())
        .await
        .unwrap();
    assert!(matches!(
        catalog_import::job(&first.state, job)
            .await
            .unwrap()
            .unwrap()
            .phase(),
        catalog_import::Phase::Refused(_)
    ));
}

/// The configuration refuses several instances on SQLite, and with the embedded broker on a
/// shared database, before anything starts.
#[tokio::test]
async fn several_instances_refuse_sqlite_and_the_embedded_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = retail_testkit::server::test_settings(
        dir.path(),
        &retail_testkit::server::Database::Sqlite,
    );
    settings.cluster.instances = 3;
    let err = retail_server::Application::build(settings.clone())
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("needs PostgreSQL"), "{err}");
    settings.database_url = "postgres://127.0.0.1:1/none".into();
    settings.mqtt.enabled = true;
    let err = retail_server::Application::build(settings)
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("embedded MQTT broker"), "{err}");
}
