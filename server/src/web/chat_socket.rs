//! The chat's WebSocket (issue 18), shared by the shop's `/chat/ws` (a member, by the shop
//! session) and the console's `/console/chat/ws` (an agent, by the console session). A thin
//! adapter over [`crate::app::chat`]: it reads the client's frames, calls the use cases, and
//! forwards the hub's events.
//!
//! The protocol (JSON text frames; documented in `docs/CHAT.md`):
//! - client → server: `{"type":"send","client_id":UUID,"kind":"text|image|product|order",
//!   "body":…,"conversation_id":UUID (agents),"context":"product:ID|order:ID" (members)}`,
//!   `{"type":"read","seq":N,"conversation_id":UUID (agents)}`, `{"type":"ping"}`;
//! - server → client: `hello` (the conversation, whether agents are at work, their hours), then
//!   the missed `message`s, then live `message`s and `conversation` moves; `ack` answers a send
//!   with the stored number (also for a resent one), `error` a refused frame (with `client_id`
//!   when it was a send: the message was not stored), `pong`.
//!
//! Before anything is read the socket subscribes to the hub, then sends the history after the
//! client's `after` number, then live events, dropping any it has already sent: a client that
//! reconnects with the last number it holds misses nothing and gets nothing twice. The browser's
//! `Origin` must be this server (no other site's page may open a socket with the shopper's
//! cookie). Each connection may send `[chat] messages_per_second` frames a second with bursts
//! of `burst`; past that they are refused, and a connection that keeps flooding is closed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::actor::StaffActor;
use crate::app::chat::{self, ChatEvent, MemberSide, Outgoing};
use crate::app::AppState;
use crate::error::AppError;

/// The largest frame a client may send (a text of the longest message, with room for JSON).
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

/// The largest image upload read (the media module's own limits apply after).
pub const MAX_IMAGE_BYTES: usize = 15 * 1024 * 1024 + 64 * 1024;

/// Refused frames in a row after which a flooding connection is closed.
const FLOOD_CLOSE_AFTER: u32 = 50;

/// Who is on the socket.
pub enum Side {
    /// A member in the shop.
    Member(MemberSide),
    /// An agent in the console, looking at one conversation (or only the inbox).
    Agent(StaffActor),
}

/// What a client asks for when it connects: the conversation it shows and the last number it
/// holds of it.
#[derive(Debug, Deserialize, Default)]
pub struct Resume {
    /// The conversation the client shows.
    pub conversation: Option<Uuid>,
    /// The last message number it holds (0: none).
    pub after: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Send {
        client_id: Uuid,
        kind: String,
        body: String,
        conversation_id: Option<Uuid>,
        context: Option<String>,
    },
    Read {
        seq: i64,
        conversation_id: Option<Uuid>,
    },
    Ping,
}

/// True when the request's `Origin` is this server (the `Host` it was sent to). Browsers always
/// send one with a WebSocket handshake; a client without one (not a browser) is let through.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
}

/// A token bucket: `rate` a second, at most `burst` at once.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst),
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn error_frame(client_id: Option<Uuid>, err: &AppError) -> String {
    let message = match err {
        AppError::Internal(e) => {
            tracing::error!(error = ?e, "chat: internal error");
            "something went wrong, please try again".to_owned()
        }
        other => other.to_string(),
    };
    json!({ "type": "error", "client_id": client_id, "code": err.code(), "message": message })
        .to_string()
}

fn event_frame(event: &ChatEvent) -> String {
    serde_json::to_string(event).unwrap_or_else(|_| "{}".into())
}

/// Runs one socket until the client goes, the server shuts down, or the client floods.
pub async fn serve(mut socket: WebSocket, state: AppState, side: Side, resume: Resume) {
    let topics = match &side {
        Side::Member(member) => vec![chat::member_topic(member.id)],
        Side::Agent(staff) => match chat::agent_topics(staff) {
            Ok(topics) => topics,
            Err(err) => {
                let _ = socket
                    .send(Frame::Text(error_frame(None, &err).into()))
                    .await;
                return;
            }
        },
    };
    let mut subscription = state.chat.subscribe(topics);
    // Last number sent per conversation: live events at or below it were in the history.
    let mut sent: HashMap<Uuid, i64> = HashMap::new();
    if let Err(err) = replay(&mut socket, &state, &side, &resume, &mut sent).await {
        let _ = socket
            .send(Frame::Text(error_frame(None, &err).into()))
            .await;
        return;
    }
    let settings = &state.settings.chat;
    let mut bucket = Bucket::new(settings.messages_per_second, settings.burst);
    let mut refused_in_a_row = 0u32;
    let mut heartbeat = tokio::time::interval(Duration::from_secs(30));
    heartbeat.tick().await;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Frame::Text(text))) => text,
                    Some(Ok(Frame::Binary(_))) => {
                        let err = AppError::bad_request("bad_frame", "frames are JSON text");
                        if socket.send(Frame::Text(error_frame(None, &err).into())).await.is_err() { break; }
                        continue;
                    }
                    Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if !bucket.take() {
                    refused_in_a_row += 1;
                    if refused_in_a_row >= FLOOD_CLOSE_AFTER {
                        let _ = socket.send(Frame::Close(Some(CloseFrame {
                            code: 1008,
                            reason: "too many messages".into(),
                        }))).await;
                        break;
                    }
                    let err = AppError::RateLimited { retry_after_secs: 1 };
                    let client_id = serde_json::from_str::<serde_json::Value>(&text).ok()
                        .and_then(|v| v.get("client_id").and_then(|c| c.as_str()).and_then(|c| c.parse().ok()));
                    if socket.send(Frame::Text(error_frame(client_id, &err).into())).await.is_err() { break; }
                    continue;
                }
                refused_in_a_row = 0;
                let answer = handle(&state, &side, &text).await;
                if socket.send(Frame::Text(answer.into())).await.is_err() { break; }
            }
            event = subscription.events.recv() => {
                let Some(event) = event else {
                    // Too slow: the hub dropped the subscription. The client reconnects and
                    // reads what it missed.
                    let _ = socket.send(Frame::Close(Some(CloseFrame { code: 1013, reason: "reconnect".into() }))).await;
                    break;
                };
                if let ChatEvent::Message { message, .. } = event.as_ref() {
                    let last = sent.entry(message.conversation_id).or_insert(0);
                    if message.seq <= *last { continue; }
                    *last = message.seq;
                }
                if socket.send(Frame::Text(event_frame(&event).into())).await.is_err() { break; }
            }
            _ = heartbeat.tick() => {
                if socket.send(Frame::Ping(Vec::new().into())).await.is_err() { break; }
            }
            () = state.shutdown.cancelled() => {
                let _ = socket.send(Frame::Close(Some(CloseFrame { code: 1001, reason: "server stopping".into() }))).await;
                break;
            }
        }
    }
}

/// Sends `hello` and the history the client missed.
async fn replay(
    socket: &mut WebSocket,
    state: &AppState,
    side: &Side,
    resume: &Resume,
    sent: &mut HashMap<Uuid, i64>,
) -> Result<(), AppError> {
    let after = resume.after.unwrap_or(0);
    let (conversation, messages) = match side {
        Side::Member(member) => {
            chat::member_history(state, member.id, resume.conversation, after).await?
        }
        Side::Agent(staff) => match resume.conversation {
            Some(id) => {
                let (c, m) = chat::agent_history(state, staff, id, after).await?;
                (Some(c), m)
            }
            None => (None, Vec::new()),
        },
    };
    let queue = conversation
        .as_ref()
        .map(|c| c.queue.clone())
        .unwrap_or_else(|| chat::HEAD_OFFICE_QUEUE.to_owned());
    let hours = chat::hours(state, &queue).await?;
    let hello = json!({
        "type": "hello",
        "conversation": conversation,
        "open": hours.open_at(crate::storage::now_ms()),
        "hours": hours.text(),
    });
    socket
        .send(Frame::Text(hello.to_string().into()))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("chat socket: {e}")))?;
    for message in messages {
        let last = sent.entry(message.conversation_id).or_insert(0);
        *last = (*last).max(message.seq);
        let frame = json!({ "type": "message", "conversation": conversation, "message": message });
        socket
            .send(Frame::Text(frame.to_string().into()))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("chat socket: {e}")))?;
    }
    Ok(())
}

/// Answers one client frame.
async fn handle(state: &AppState, side: &Side, text: &str) -> String {
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(_) => {
            return error_frame(
                None,
                &AppError::bad_request(
                    "bad_frame",
                    "expected {\"type\":\"send\"|\"read\"|\"ping\", …}",
                ),
            )
        }
    };
    match frame {
        ClientFrame::Ping => json!({ "type": "pong" }).to_string(),
        ClientFrame::Read {
            seq,
            conversation_id,
        } => {
            let done = match (side, conversation_id) {
                (Side::Member(member), _) => chat::member_read(state, member.id, seq).await,
                (Side::Agent(staff), Some(id)) => chat::agent_read(state, staff, id, seq).await,
                (Side::Agent(_), None) => {
                    Err(AppError::field("conversation_id", "which conversation?"))
                }
            };
            match done {
                Ok(()) => json!({ "type": "read", "seq": seq }).to_string(),
                Err(err) => error_frame(None, &err),
            }
        }
        ClientFrame::Send {
            client_id,
            kind,
            body,
            conversation_id,
            context,
        } => {
            let out = Outgoing {
                client_id,
                kind,
                body,
                context,
            };
            let stored = match (side, conversation_id) {
                (Side::Member(member), _) => chat::member_send(state, member, out).await,
                (Side::Agent(staff), Some(id)) => chat::agent_send(state, staff, id, out).await,
                (Side::Agent(_), None) => {
                    Err(AppError::field("conversation_id", "which conversation?"))
                }
            };
            match stored {
                Ok(message) => json!({
                    "type": "ack",
                    "client_id": client_id,
                    "conversation_id": message.conversation_id,
                    "seq": message.seq,
                })
                .to_string(),
                Err(err) => error_frame(Some(client_id), &err),
            }
        }
    }
}

/// The words the chat script shows, in the page's language (read by `/static/chat.js`).
pub fn chat_labels(ctx: &crate::web::Ctx) -> maud::Markup {
    maud::html! {
        div #chat-labels hidden
            data-sending=(ctx.t("发送中…", "Sending…"))
            data-failed=(ctx.t("未发送：", "Not sent: "))
            data-online=(ctx.t("已连接", "Connected"))
            data-reconnecting=(ctx.t("连接断开，正在重连…", "Connection lost, reconnecting…"))
            data-member=(ctx.t("我", "Me"))
            data-bot=(ctx.t("智能客服", "Service bot"))
            data-agent=(ctx.t("客服", "Agent"))
            data-system=(ctx.t("系统", "Notice"))
            data-order=(ctx.t("订单", "Order"))
            data-view=(ctx.t("查看", "View"))
            data-faq=(ctx.t("存为 FAQ", "Save as FAQ"))
            data-faq-done=(ctx.t("已加入知识库", "Added to the knowledge base"))
            data-new=(ctx.t("新会话", "New conversation"))
            data-image-failed=(ctx.t("图片上传失败", "The photo could not be uploaded")) {}
    }
}

/// Keeps a chat photo uploaded as the request body (the media module's checks, re-encoding and
/// thumbnails, as review photos): `{"name", "url"}`, or the media error (422) keeping nothing.
pub async fn keep_image(
    state: &AppState,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(body) = body else {
        return AppError::field_code(
            "image_too_large",
            "image",
            "the upload could not be read whole",
        )
        .into_response();
    };
    match crate::app::media::store_image(state, body).await {
        Ok(image) => axum::Json(json!({
            "name": image.full.name,
            "url": format!("/media/{}", image.full.name),
        }))
        .into_response(),
        Err(err) => err.into_response(),
    }
}
