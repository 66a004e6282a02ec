//! Chat fan-out benchmark (issue 18): 2,000 concurrent WebSocket chat connections to the real
//! server (in this process, on an ephemeral port, on SQLite or PostgreSQL with durable
//! commits) — `members` shoppers on `/chat/ws` and `agents` head-office agents on
//! `/console/chat/ws` following every queue — and the time from a message being sent to it
//! arriving at every socket that shows it.
//!
//! ```sh
//! cargo bench -p retail-server --bench chat -- --backend sqlite
//! cargo bench -p retail-server --bench chat -- --backend postgres --members 1990 --agents 10 --rate 200 --seconds 10
//! ```
//!
//! Set-up: every member logs in (a shop session made through the session use cases), opens a
//! socket and asks for a person, so each has a conversation waiting in head office's queue.
//! Measured: for `seconds`, members send texts at `rate` a second in total (a random member each
//! time); every message is delivered to its member's socket and to every agent's socket
//! (fan-out `1 + agents`). Reports the sends, the deliveries, and p50/p99/max of send → arrival
//! over all deliveries, and p99 of send → ack.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use retail_server::app::shop_session;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Frame;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    members: usize,
    agents: usize,
    rate: u64,
    seconds: u64,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        members: flags.number("members", 1_990)?,
        agents: flags.number("agents", 10)?,
        rate: flags.number("rate", 200)?,
        seconds: flags.number("seconds", 10)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

/// When each message was sent, and how long each delivery and ack took.
#[derive(Default)]
struct Clock {
    sent: HashMap<String, Instant>,
    deliveries: Vec<Duration>,
    acks: Vec<Duration>,
}

type Shared = Arc<Mutex<Clock>>;

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Frame,
>;

async fn open(url: &str, path: &str, cookie: &str, clock: Shared) -> anyhow::Result<Sink> {
    let mut request = format!("{}{path}", url.replacen("http", "ws", 1)).into_client_request()?;
    request.headers_mut().insert("cookie", cookie.parse()?);
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    let (sink, mut stream) = ws.split();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            let Frame::Text(text) = frame else { continue };
            let arrived = Instant::now();
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let (kind, id) = match value["type"].as_str() {
                Some("message") => ("message", value["message"]["client_id"].as_str()),
                Some("ack") => ("ack", value["client_id"].as_str()),
                _ => continue,
            };
            let Some(id) = id else { continue };
            let mut clock = clock.lock().unwrap();
            if let Some(sent) = clock.sent.get(id).copied() {
                let took = arrived.duration_since(sent);
                if kind == "ack" {
                    clock.acks.push(took);
                } else {
                    clock.deliveries.push(took);
                }
            }
        }
    });
    Ok(sink)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    // Agents work around the clock in the bench; members may send as fast as the rate asks.
    settings.chat.opens = "00:00".into();
    settings.chat.closes = "24:00".into();
    settings.chat.messages_per_second = 1_000;
    settings.chat.burst = 1_000;
    let server = support::start(settings).await?;
    let (url, state) = (server.url.clone(), server.state.clone());
    let client = reqwest::Client::new();
    let admin = support::login(&client, &url).await?;
    let clock: Shared = Arc::default();

    println!(
        "setting up {} members and {} agents on {} …",
        args.members, args.agents, args.backend
    );
    let mut agents = Vec::with_capacity(args.agents);
    for _ in 0..args.agents {
        agents.push(
            open(
                &url,
                "/console/chat/ws",
                &format!("console={admin}"),
                clock.clone(),
            )
            .await?,
        );
    }
    let mut members = Vec::with_capacity(args.members);
    for k in 0..args.members {
        let member = match retail_server::storage::members::register(
            &state.store,
            &state.keys,
            &state.settings.points,
            Uuid::now_v7(),
            &format!("136{k:08}"),
            "聊天",
        )
        .await?
        {
            retail_server::storage::members::Registration::Created(m)
            | retail_server::storage::members::Registration::Existing(m) => m.id,
            retail_server::storage::members::Registration::PhoneTaken(id) => id,
        };
        let first = retail_server::secrets::new_token("ws_");
        let session = shop_session::ensure_session(&state, &first).await?;
        let sid = retail_server::secrets::new_token("ws_");
        shop_session::rekey_session(&state, &first, session.id, &sid, Some(member)).await?;
        let mut sink = open(&url, "/chat/ws", &format!("sid={sid}"), clock.clone()).await?;
        sink.send(Frame::Text(
            json!({"type": "send", "client_id": Uuid::now_v7(), "kind": "text", "body": "转人工"})
                .to_string()
                .into(),
        ))
        .await?;
        members.push(sink);
    }
    println!(
        "{} sockets connected ({} subscriptions); sending for {} s at {}/s …",
        args.members + args.agents,
        state.chat.subscribers(),
        args.seconds,
        args.rate
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let total = args.rate * args.seconds;
    let gap = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let mut next = Instant::now();
    for n in 0..total {
        let k = (n as usize * 7919) % members.len();
        let id = Uuid::now_v7().to_string();
        let frame = json!({"type": "send", "client_id": id, "kind": "text", "body": format!("第 {n} 条消息")});
        clock.lock().unwrap().sent.insert(id, Instant::now());
        members[k]
            .send(Frame::Text(frame.to_string().into()))
            .await?;
        next += gap;
        tokio::time::sleep_until(next.into()).await;
    }
    let sending = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (mut deliveries, mut acks) = {
        let clock = clock.lock().unwrap();
        (clock.deliveries.clone(), clock.acks.clone())
    };
    deliveries.sort();
    acks.sort();
    let expected = total as usize * (1 + args.agents);
    println!(
        "backend {}: {} connections, {} messages in {:.1} s, {} of {} deliveries (fan-out {}), \
         delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; ack p99 {:.1} ms",
        args.backend,
        args.members + args.agents,
        total,
        sending.as_secs_f64(),
        deliveries.len(),
        expected,
        1 + args.agents,
        support::percentile(&deliveries, 50.0).as_secs_f64() * 1e3,
        support::percentile(&deliveries, 99.0).as_secs_f64() * 1e3,
        deliveries.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        support::percentile(&acks, 99.0).as_secs_f64() * 1e3,
    );
    drop(members);
    drop(agents);
    server.stop().await;
    Ok(())
}
