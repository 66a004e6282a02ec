//! Notification outbox benchmark (issue 18): how many deliveries a second the outbox makes to
//! local fake providers speaking the real wire formats — Alibaba Cloud `SendSms` (HMAC-SHA1
//! signed GET, checked by the fake) and WeChat `subscribe/send` (access token checked, one-time
//! subscription used) — through the real adapters, on SQLite or PostgreSQL with durable commits.
//!
//! ```sh
//! cargo bench -p retail-server --bench notifications -- --backend sqlite
//! cargo bench -p retail-server --bench notifications -- --backend postgres --members 500 --events 10
//! ```
//!
//! Set-up: `members` members, each with SMS on for chat replies and `events` accepted
//! subscriptions of the chat-reply template; `events` chat replies each
//! ([`retail_server::app::notifications::chat_reply_while_offline`]): one in-app notice and two
//! outbox rows (SMS, WeChat) per event. Measured: [`deliver_all_due`] until the outbox is empty
//! (claim in batches, send concurrently, write the outcomes). Reports deliveries per second and
//! checks every row was sent and each fake received exactly its messages (the demo chain's own
//! few rows, skipped, are counted apart).
//!
//! [`deliver_all_due`]: retail_server::app::notifications::deliver_all_due

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::time::Instant;

use retail_server::app::notifications::{self, Channel, EventKind};
use retail_server::storage;
use retail_testkit::sms::FakeAliyunSms;
use retail_testkit::wechat_subscribe::FakeWechatSubscribe;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    members: usize,
    events: usize,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        members: flags.number("members", 500)?,
        events: flags.number("events", 10)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    FakeAliyunSms::configure_keeping_demo(&mut settings);
    FakeWechatSubscribe::configure(&mut settings);
    // The bench delivers; the server's own sweep stays out of the way.
    settings.notifications.deliver_every_millis = 0;
    settings.notifications.batch = 500;
    settings.notifications.concurrency = 64;
    let sms_endpoint = settings.sms.endpoint.clone();
    let server = support::start(settings).await?;
    let state = server.state.clone();
    let wx = FakeWechatSubscribe::of_base(&state.settings.notifications.wechat.api_base_url);
    let sms = FakeAliyunSms::of_endpoint(&sms_endpoint);

    let template = "TPL_chat_reply";
    storage::notifications::save_template(
        &state.store,
        &storage::notifications::TemplateOverride {
            kind: EventKind::ChatReply.as_str().into(),
            title_zh: "客服回复".into(),
            title_en: "Customer service replied".into(),
            text_zh: "客服回复了您的咨询，点击查看。".into(),
            text_en: "Customer service replied to you.".into(),
            sms_template_code: "SMS_900000015".into(),
            wechat_template_id: template.into(),
            wechat_page: "pages/chat/index?c={conversation_id}".into(),
            wechat_fields: "thing1=title;thing2=summary;time3=time".into(),
        },
        "bench",
    )
    .await?;
    let set_up = Instant::now();
    let mut members = Vec::with_capacity(args.members);
    for i in 0..args.members {
        let phone = format!("139{:08}", 47_000_000 + i);
        let member = match storage::members::register(
            &state.store,
            &state.keys,
            &state.settings.points,
            Uuid::now_v7(),
            &phone,
            "压测",
        )
        .await?
        {
            storage::members::Registration::Created(m)
            | storage::members::Registration::Existing(m) => m.id,
            storage::members::Registration::PhoneTaken(id) => id,
        };
        notifications::set_preferences(
            &state,
            member,
            &[
                (EventKind::ChatReply, Channel::Sms),
                (EventKind::ChatReply, Channel::Wechat),
            ],
        )
        .await?;
        let openid = format!("openid-bench-{i}");
        for _ in 0..args.events {
            storage::notifications::record_subscriptions(
                &state.store,
                Uuid::now_v7(),
                member,
                &openid,
                &[template.to_owned()],
            )
            .await?;
            wx.accept(&openid, template);
        }
        members.push(member);
    }
    for seq in 0..args.events {
        for member in &members {
            notifications::chat_reply_while_offline(
                &state,
                *member,
                &format!("bench-{member}"),
                i64::try_from(seq)?,
            )
            .await?;
        }
    }
    let rows = args.members * args.events * 2;
    println!(
        "set-up: {} members, {} events, {rows} outbox rows in {:.1} s",
        args.members,
        args.members * args.events,
        set_up.elapsed().as_secs_f64()
    );

    let sms_before = sms.delivered().len();
    let started = Instant::now();
    let round = notifications::deliver_all_due(&state).await?;
    let took = started.elapsed();
    let rate = round.sent as f64 / took.as_secs_f64();
    println!(
        "backend {}: {} deliveries ({} SMS, {} WeChat) in {:.2} s = {rate:.0} deliveries/s; \
         skipped {}, retried {}, dead {}",
        args.backend,
        round.sent,
        sms.delivered().len() - sms_before,
        wx.delivered().len(),
        took.as_secs_f64(),
        round.skipped,
        round.retried,
        round.dead,
    );
    anyhow::ensure!(round.sent == rows, "every row sent: {round:?}");
    anyhow::ensure!(sms.delivered().len() - sms_before == rows / 2, "SMS count");
    anyhow::ensure!(wx.delivered().len() == rows / 2, "WeChat count");
    anyhow::ensure!(
        sms.refused().is_empty() && wx.refused().is_empty(),
        "refusals"
    );
    server.stop().await;
    Ok(())
}
