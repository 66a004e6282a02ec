//! The shopper's chat with customer service (issue 18): `/chat` (from any page's 客服 button;
//! `?product=` or `?order=` carries what the shopper was looking at, shown as a card they can
//! send), its WebSocket `/chat/ws` ([`crate::web::chat_socket`]) and image uploads
//! `/chat/images` (the body is the image; the same checks and re-encoding as review photos).
//! Thin over [`crate::app::chat`]; the page's script is `/static/chat.js`.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, require_member, session};
use crate::app::chat::{self, MemberSide};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::chat_socket::{self, chat_labels, Resume, Side};
use crate::web::{shop_page, Ctx, Lang, WebError, WebResult};

/// The shopper's chat routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat", get(page))
        .route("/chat/ws", get(socket))
        .route(
            "/chat/images",
            post(upload).layer(DefaultBodyLimit::max(chat_socket::MAX_IMAGE_BYTES)),
        )
}

#[derive(Deserialize)]
struct ChatParams {
    product: Option<String>,
    order: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<ChatParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), &ctx.path)?;
    let context = match (p.product.as_deref(), p.order.as_deref()) {
        (Some(id), _) => id.parse::<Uuid>().ok().map(|id| format!("product:{id}")),
        (None, Some(id)) => id.parse::<Uuid>().ok().map(|id| format!("order:{id}")),
        _ => None,
    };
    let card = match &context {
        Some(c) => chat::context_card(&state, member, c).await?,
        None => None,
    };
    let count = cart_count(&state, session.as_ref()).await?;
    let queue = chat::open_queue(&state, member)
        .await?
        .unwrap_or_else(|| chat::HEAD_OFFICE_QUEUE.to_owned());
    let hours = chat::hours(&state, &queue).await?;
    let open = hours.open_at(crate::storage::now_ms());
    let body = html! {
        div #chat.chat data-side="member" data-ws="/chat/ws" data-upload="/chat/images"
            data-context=[card.as_ref().and(context.as_deref())] {
            (chat_labels(&ctx))
            p #chat-hours.muted {
                (ctx.t("客服在线时间 ", "Agents online ")) (hours.text())
                @if !open { " · " (ctx.t("现在是非工作时间，您的留言会在客服上班后回复", "Outside working hours: your message will be answered when agents are back")) }
            }
            @if let (Some(card), Some(context)) = (&card, &context) {
                div #chat-context.card {
                    (context_preview(ctx.lang, card))
                    button.btn.secondary #chat-send-context type="button"
                        data-kind=(context.split(':').next().unwrap_or(""))
                        data-id=(context.split(':').nth(1).unwrap_or("")) {
                        (ctx.t("发送给客服", "Send to the agent"))
                    }
                }
            }
            div #chat-log.chat-log role="log" aria-live="polite" {}
            p #chat-status.muted { (ctx.t("连接中…", "Connecting…")) }
            form #chat-form.chat-form {
                textarea #chat-text name="text" rows="2" maxlength=(state.settings.chat.max_text_chars)
                    placeholder=(ctx.t("请输入您的问题", "Type your question")) aria-label=(ctx.t("消息", "Message")) {}
                div.row {
                    button.btn #chat-send type="submit" { (ctx.t("发送", "Send")) }
                    label.btn.secondary for="chat-image" { (ctx.t("图片", "Photo")) }
                    input #chat-image type="file" accept="image/jpeg,image/png,image/webp" hidden;
                    button.btn.secondary #chat-human type="button" data-text=(ctx.t("转人工", "Talk to a person")) { (ctx.t("转人工", "Talk to a person")) }
                }
            }
        }
        script src="/static/chat.js" defer {}
    };
    Ok(shop_page(
        &ctx,
        ctx.t("在线客服", "Customer service"),
        count,
        body,
    ))
}

/// The product or order the shopper came from, as a small card.
fn context_preview(lang: Lang, card: &serde_json::Value) -> maud::Markup {
    let text = |k: &str| {
        card.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let fen = |k: &str| card.get(k).and_then(serde_json::Value::as_i64);
    html! {
        @if card.get("order_no").is_some() {
            b { (lang.t("订单 ", "Order ")) (text("order_no")) }
            @if let Some(total) = fen("total_fen") { " · " span.price { (crate::web::yuan(total)) } }
        } @else {
            @if let Some(image) = card.get("image").and_then(|v| v.as_str()) { img src=(image) alt="" width="48" height="48"; }
            b { (lang.pick(&text("name_zh"), &text("name_en"))) }
            @if let Some(price) = fen("price_fen") { " · " span.price { (crate::web::yuan(price)) } }
        }
    }
}

async fn socket(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(resume): Query<Resume>,
    upgrade: WebSocketUpgrade,
) -> WebResult<Response> {
    if !chat_socket::same_origin(&headers) {
        return Err(AppError::Forbidden("this page may not open the chat".into()).into());
    }
    let session = session(&state, &ctx).await?;
    let Some((member, pickup_store)) = session
        .as_ref()
        .and_then(|s| s.member_id.map(|m| (m, s.pickup_store.clone())))
    else {
        return Err(AppError::Unauthorized("log in to chat".into()).into());
    };
    let side = Side::Member(MemberSide {
        id: member,
        pickup_store,
        english: ctx.lang == Lang::En,
    });
    Ok(upgrade
        .max_message_size(chat_socket::MAX_FRAME_BYTES)
        .max_frame_size(chat_socket::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| chat_socket::serve(socket, state, side, resume))
        .into_response())
}

/// `POST /chat/images`: the body is one image (JPEG, PNG or WebP; CSRF token in the
/// `x-csrf-token` header). Answers `{"name": …, "url": …}`; send the name as an image message.
async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, WebError> {
    crate::web::check_csrf(
        &state,
        &ctx.sid,
        headers.get("x-csrf-token").and_then(|v| v.to_str().ok()),
    )?;
    let session = session(&state, &ctx).await?;
    if session.as_ref().and_then(|s| s.member_id).is_none() {
        return Ok(AppError::Unauthorized("log in to chat".into()).into_response());
    }
    Ok(chat_socket::keep_image(&state, body).await)
}
