//! The agents' inbox (客服工作台, issue 18): `/console/chat` lists the conversations of the
//! queues the agent answers (waiting, mine, all open, closed) with unread counts that follow
//! live; `?c=` opens one — its messages live over `/console/chat/ws`, take, transfer and close,
//! canned replies, images, the member's recent orders beside it (sent as order cards), and
//! "save as FAQ" on the agent's own answers. `/console/chat/settings` holds the canned replies
//! and the queues' working hours; `/console/chat/search` is head office's search of every
//! conversation. Thin over [`crate::app::chat`].

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::Role;
use crate::app::chat::{self, InboxView, TransferTo};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::web::chat_socket::{self, chat_labels, Resume, Side};
use crate::web::{
    console_page, pager, redirect, when, yuan, Ctx, Form, Staff, WebError, WebResult,
};

/// The inbox routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/chat", get(inbox))
        .route("/console/chat/ws", get(socket))
        .route(
            "/console/chat/images",
            post(upload).layer(DefaultBodyLimit::max(chat_socket::MAX_IMAGE_BYTES)),
        )
        .route("/console/chat/{id}/take", post(take))
        .route("/console/chat/{id}/transfer", post(transfer))
        .route("/console/chat/{id}/close", post(close))
        .route("/console/chat/{id}/faq", post(save_faq))
        .route("/console/chat/settings", get(settings))
        .route("/console/chat/canned", post(add_canned))
        .route("/console/chat/canned/{id}/delete", post(delete_canned))
        .route("/console/chat/hours", post(set_hours))
        .route("/console/chat/search", get(search))
}

#[derive(Debug, Deserialize, Default)]
struct InboxParams {
    view: Option<String>,
    c: Option<Uuid>,
    cursor: Option<String>,
    error: Option<String>,
}

fn view_of(text: Option<&str>) -> (InboxView, &'static str) {
    match text {
        Some("mine") => (InboxView::Mine, "mine"),
        Some("open") => (InboxView::Open, "open"),
        Some("closed") => (InboxView::Closed, "closed"),
        _ => (InboxView::Waiting, "waiting"),
    }
}

/// A conversation's status for people.
fn status_label(ctx: &Ctx, status: &str) -> &'static str {
    match status {
        "bot" => ctx.t("机器人接待中", "With the bot"),
        "waiting" => ctx.t("待接入", "Waiting"),
        "assigned" => ctx.t("服务中", "Taken"),
        _ => ctx.t("已结束", "Closed"),
    }
}

fn queue_label(ctx: &Ctx, queue: &str) -> String {
    if queue == chat::HEAD_OFFICE_QUEUE {
        ctx.t("总部", "Head office").to_owned()
    } else {
        queue.to_owned()
    }
}

async fn inbox(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<InboxParams>,
) -> WebResult<Response> {
    let (view, view_key) = view_of(p.view.as_deref());
    let page = chat::inbox(
        &state,
        &staff,
        view,
        Cursor::parse(p.cursor.as_deref())?,
        PAGE_SIZE,
    )
    .await?;
    let tabs = [
        ("waiting", ctx.t("待接入", "Waiting")),
        ("mine", ctx.t("我的会话", "Mine")),
        ("open", ctx.t("全部进行中", "All open")),
        ("closed", ctx.t("已结束", "Closed")),
    ];
    let selected = match p.c {
        Some(id) => Some(chat::conversation_for_agent(&state, &staff, id).await?),
        None => None,
    };
    let (orders, canned, member) = match &selected {
        Some(c) => (
            chat::recent_orders(&state, &staff, c.id).await?,
            chat::canned_replies(&state, &staff).await?,
            chat::member_of(&state, &staff, c.id).await.ok(),
        ),
        None => (Vec::new(), Vec::new(), None),
    };
    let head_office = staff.role == Role::HeadOfficeAdmin;
    let stores = crate::storage::locations::list(&state.store).await?;
    let agents = if selected.is_some() {
        chat::agents(
            &state,
            &selected
                .as_ref()
                .map(|c| c.queue.clone())
                .unwrap_or_default(),
        )
        .await?
    } else {
        Vec::new()
    };
    let body = html! {
        @if let Some(e) = &p.error { div.notice.err role="alert" #chat-error { (error_text(&ctx, e)) } }
        div.row {
            a.btn.secondary href="/console/chat/settings" { (ctx.t("快捷回复与工作时间", "Canned replies and hours")) }
            @if head_office {
                form.row method="get" action="/console/chat/search" {
                    input name="q" placeholder=(ctx.t("搜索聊天记录", "Search conversations")) style="max-width:220px";
                    button.btn.secondary type="submit" { (ctx.t("搜索", "Search")) }
                }
            }
        }
        div.chat-console {
            section.chat-inbox #chat-inbox {
                div.chips { @for (k, label) in tabs { a.chip.on[k == view_key] href={ "/console/chat?view=" (k) } { (label) } } }
                @if page.items.is_empty() { p.muted #inbox-empty { (ctx.t("暂无会话", "No conversations")) } }
                ul.inbox-list #inbox-list {
                    @for c in &page.items {
                        li.inbox-item.on[selected.as_ref().is_some_and(|s| s.id == c.id)] data-conversation=(c.id) data-status=(c.status) {
                            a href={ "/console/chat?view=" (view_key) "&c=" (c.id) } {
                                b { (queue_label(&ctx, &c.queue)) } " · " span.status-text { (status_label(&ctx, &c.status)) }
                                @if let Some(a) = &c.agent_name { " · " (a) }
                                " " span.badge.unread hidden[c.unread_by_agent == 0] { (c.unread_by_agent) }
                                br; span.muted { (when(c.updated_at)) }
                            }
                        }
                    }
                }
                (pager(&ctx, "/console/chat", &[("view", view_key)], "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
            }
            @if let Some(c) = &selected {
                section.chat-pane {
                    div.card.spread #chat-head {
                        span { b { (queue_label(&ctx, &c.queue)) } " · " span #chat-state data-status=(c.status) { (status_label(&ctx, &c.status)) }
                            @if let Some(a) = &c.agent_name { " · " span #chat-agent { (a) } }
                            @if let Some(r) = &c.handover_reason { " · " span.muted { (ctx.t("转人工原因：", "Handed over: ")) (r) } } }
                        span.row {
                            @if c.status == "waiting" || c.status == "bot" {
                                form.inline method="post" action={ "/console/chat/" (c.id) "/take" } {
                                    (ctx.csrf_field()) button.btn #chat-take type="submit" { (ctx.t("接入", "Take")) }
                                }
                            }
                            @if c.status != "closed" {
                                form.inline method="post" action={ "/console/chat/" (c.id) "/close" } {
                                    (ctx.csrf_field()) button.btn.secondary #chat-close type="submit" { (ctx.t("结束会话", "Close")) }
                                }
                            }
                        }
                    }
                    div #chat data-side="agent" data-ws="/console/chat/ws" data-upload="/console/chat/images"
                        data-conversation=(c.id) data-faq={ "/console/chat/" (c.id) "/faq" } {
                        (chat_labels(&ctx))
                        div #chat-log.chat-log role="log" aria-live="polite" {}
                        p #chat-status.muted { (ctx.t("连接中…", "Connecting…")) }
                        @if c.status != "closed" {
                            form #chat-form.chat-form {
                                @if !canned.is_empty() {
                                    select #chat-canned aria-label=(ctx.t("快捷回复", "Canned replies")) {
                                        option value="" { (ctx.t("快捷回复…", "Canned reply…")) }
                                        @for r in &canned { option value=(r.body) { (r.title) } }
                                    }
                                }
                                textarea #chat-text rows="3" maxlength=(state.settings.chat.max_text_chars) aria-label=(ctx.t("回复", "Reply")) {}
                                div.row {
                                    button.btn #chat-send type="submit" { (ctx.t("发送", "Send")) }
                                    label.btn.secondary for="chat-image" { (ctx.t("图片", "Photo")) }
                                    input #chat-image type="file" accept="image/jpeg,image/png,image/webp" hidden;
                                }
                            }
                        }
                    }
                    @if c.status != "closed" {
                        form.card.row #transfer-form method="post" action={ "/console/chat/" (c.id) "/transfer" } {
                            (ctx.csrf_field())
                            select name="to" aria-label=(ctx.t("转接给", "Transfer to")) {
                                @if head_office || c.queue != chat::HEAD_OFFICE_QUEUE {
                                    option value="queue:hq" { (ctx.t("总部客服", "Head office queue")) }
                                }
                                @for s in &stores { @if s.kind.as_str() == "store" && s.id != c.queue {
                                    option value={ "queue:" (s.id) } { (ctx.lang.pick(&s.name_zh, &s.name_en)) }
                                } }
                                @for a in &agents { @if a.id != staff.id {
                                    option value={ "agent:" (a.id) } { (a.display_name) }
                                } }
                            }
                            button.btn.secondary #chat-transfer type="submit" { (ctx.t("转接", "Transfer")) }
                        }
                    }
                }
                aside.chat-side #chat-member {
                    div.card {
                        b { (ctx.t("顾客", "Shopper")) }
                        @if let Some(m) = &member {
                            p { (m.phone) @if !m.name.is_empty() { " · " (m.name) } }
                            p.muted { (m.tier.name) " · " (ctx.t("积分 ", "Points ")) (m.points) }
                        }
                    }
                    div.card #recent-orders {
                        b { (ctx.t("最近订单", "Recent orders")) }
                        @if orders.is_empty() { p.muted { (ctx.t("暂无订单", "No orders")) } }
                        @for o in &orders {
                            div.recent-order {
                                a href={ "/console/orders/" (o.id) } { (o.order_no) } " " span.muted { (o.status) } " " (yuan(o.total_fen))
                                @if c.status != "closed" {
                                    " " button.link.send-order type="button" data-order=(o.id) { (ctx.t("发送", "Send")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        script src="/static/chat.js" defer {}
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("在线客服", "Customer service"),
        body,
    ))
}

fn error_text(ctx: &Ctx, code: &str) -> &'static str {
    match code {
        "conversation_taken" => ctx.t(
            "其他客服已接入该会话。",
            "Another agent has taken this conversation.",
        ),
        "conversation_closed" => ctx.t("会话已结束。", "The conversation is closed."),
        "hours" => ctx.t(
            "工作时间格式为 HH:MM，且结束晚于开始。",
            "Hours are HH:MM, closing after opening.",
        ),
        "canned" => ctx.t(
            "快捷回复的标题为 1–40 字，内容不能为空。",
            "A canned reply needs a title of 1–40 characters and a text.",
        ),
        "transfer" => ctx.t("无法转接到该队列或客服。", "Cannot transfer there."),
        _ => ctx.t("操作未完成。", "That did not work."),
    }
}

async fn socket(
    State(state): State<AppState>,
    Staff(staff): Staff,
    headers: HeaderMap,
    Query(resume): Query<Resume>,
    upgrade: WebSocketUpgrade,
) -> WebResult<Response> {
    if !chat_socket::same_origin(&headers) {
        return Err(AppError::Forbidden("this page may not open the chat".into()).into());
    }
    chat::require_agent(&staff)?;
    if let Some(id) = resume.conversation {
        chat::conversation_for_agent(&state, &staff, id).await?;
    }
    Ok(upgrade
        .max_message_size(chat_socket::MAX_FRAME_BYTES)
        .max_frame_size(chat_socket::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| chat_socket::serve(socket, state, Side::Agent(staff), resume))
        .into_response())
}

/// `POST /console/chat/images`: one image as the body (CSRF token in `x-csrf-token`).
async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, WebError> {
    crate::web::check_csrf(
        &state,
        &ctx.sid,
        headers.get("x-csrf-token").and_then(|v| v.to_str().ok()),
    )?;
    chat::require_agent(&staff)?;
    Ok(chat_socket::keep_image(&state, body).await)
}

fn back_to(id: Uuid, error: Option<&str>) -> Response {
    match error {
        Some(e) => redirect(&format!("/console/chat?view=open&c={id}&error={e}")),
        None => redirect(&format!("/console/chat?view=mine&c={id}")),
    }
}

fn refused(id: Uuid, err: AppError, fallback: &str) -> WebResult<Response> {
    match err {
        AppError::Conflict { code, .. } => Ok(back_to(id, Some(code))),
        AppError::Invalid { .. } => Ok(back_to(id, Some(fallback))),
        other => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
struct Empty {}

async fn take(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<Empty>,
) -> WebResult<Response> {
    match chat::take(&state, &staff, id).await {
        Ok(_) => Ok(back_to(id, None)),
        Err(err) => refused(id, err, "take"),
    }
}

async fn close(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<Empty>,
) -> WebResult<Response> {
    match chat::close(&state, &staff, id).await {
        Ok(_) => Ok(redirect(&format!("/console/chat?view=closed&c={id}"))),
        Err(err) => refused(id, err, "close"),
    }
}

#[derive(Debug, Deserialize)]
struct TransferForm {
    to: String,
}

async fn transfer(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<TransferForm>,
) -> WebResult<Response> {
    let to = match f.to.split_once(':') {
        Some(("queue", q)) => TransferTo::Queue(q.to_owned()),
        Some(("agent", a)) => match a.parse() {
            Ok(a) => TransferTo::Agent(a),
            Err(_) => return Ok(back_to(id, Some("transfer"))),
        },
        _ => return Ok(back_to(id, Some("transfer"))),
    };
    match chat::transfer(&state, &staff, id, to).await {
        Ok(moved) if moved.agent_id == Some(staff.id) => Ok(back_to(id, None)),
        Ok(_) => Ok(redirect("/console/chat?view=waiting")),
        Err(AppError::Forbidden(_)) => Ok(redirect("/console/chat?view=waiting")),
        Err(err) => refused(id, err, "transfer"),
    }
}

#[derive(Debug, Deserialize)]
struct FaqForm {
    seq: i64,
}

/// `POST /console/chat/{id}/faq` (from the page's script): the agent's answer `seq` becomes an
/// FAQ entry. Answers `{"faq_id": …}`.
async fn save_faq(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<FaqForm>,
) -> Result<Response, WebError> {
    Ok(match chat::learn_answer(&state, &staff, id, f.seq).await {
        Ok(faq) => Json(serde_json::json!({ "faq_id": faq })).into_response(),
        Err(err) => err.into_response(),
    })
}

#[derive(Debug, Deserialize, Default)]
struct SettingsParams {
    done: Option<String>,
    error: Option<String>,
}

async fn settings(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<SettingsParams>,
) -> WebResult<Response> {
    let canned = chat::canned_replies(&state, &staff).await?;
    let queues: Vec<String> = match chat::agent_queues(&staff)? {
        Some(own) => own,
        None => std::iter::once(chat::HEAD_OFFICE_QUEUE.to_owned())
            .chain(
                crate::storage::locations::list(&state.store)
                    .await?
                    .into_iter()
                    .filter(|l| l.kind.as_str() == "store")
                    .map(|l| l.id),
            )
            .collect(),
    };
    let mut hours = Vec::with_capacity(queues.len());
    for q in &queues {
        hours.push((q.clone(), chat::hours(&state, q).await?));
    }
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" { (ctx.t("已保存。", "Saved.")) } }
        @if let Some(e) = &p.error { div.notice.err role="alert" #settings-error { (error_text(&ctx, e)) } }
        h2 { (ctx.t("快捷回复", "Canned replies")) }
        table #canned-replies {
            tr { th { (ctx.t("标题", "Title")) } th { (ctx.t("内容", "Text")) } th { (ctx.t("队列", "Queue")) } th {} }
            @for r in &canned {
                tr {
                    td { (r.title) } td { (r.body) } td { (queue_label(&ctx, &r.queue)) }
                    td { @if chat::require_queue(&staff, &r.queue).is_ok() {
                        form.inline method="post" action={ "/console/chat/canned/" (r.id) "/delete" } {
                            (ctx.csrf_field()) button.link type="submit" { (ctx.t("删除", "Delete")) }
                        }
                    } }
                }
            }
        }
        form.card #canned-form method="post" action="/console/chat/canned" {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(retail_domain::ids::new_id());
            select name="queue" aria-label=(ctx.t("队列", "Queue")) { @for q in &queues { option value=(q) { (queue_label(&ctx, q)) } } }
            input name="title" placeholder=(ctx.t("标题", "Title")) maxlength="40";
            textarea name="body" rows="2" placeholder=(ctx.t("回复内容", "Reply text")) {}
            button.btn #add-canned type="submit" { (ctx.t("添加", "Add")) }
        }
        h2 { (ctx.t("工作时间（北京时间）", "Working hours (China time)")) }
        @for (q, h) in &hours {
            form.card.row.hours-form method="post" action="/console/chat/hours" data-queue=(q) {
                (ctx.csrf_field())
                input type="hidden" name="queue" value=(q);
                b { (queue_label(&ctx, q)) }
                input name="opens" value=(format!("{:02}:{:02}", h.opens / 60, h.opens % 60)) style="max-width:90px" aria-label=(ctx.t("开始", "Opens"));
                "–"
                input name="closes" value=(format!("{:02}:{:02}", h.closes / 60, h.closes % 60)) style="max-width:90px" aria-label=(ctx.t("结束", "Closes"));
                button.btn.secondary type="submit" { (ctx.t("保存", "Save")) }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("快捷回复与工作时间", "Canned replies and hours"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct CannedForm {
    id: Uuid,
    queue: String,
    title: String,
    body: String,
}

async fn add_canned(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<CannedForm>,
) -> WebResult<Response> {
    match chat::add_canned_reply(&state, &staff, f.id, &f.queue, &f.title, &f.body).await {
        Ok(()) => Ok(redirect("/console/chat/settings?done=1")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/console/chat/settings?error=canned")),
        Err(err) => Err(err.into()),
    }
}

async fn delete_canned(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<Empty>,
) -> WebResult<Response> {
    chat::delete_canned_reply(&state, &staff, id).await?;
    Ok(redirect("/console/chat/settings?done=1"))
}

#[derive(Debug, Deserialize)]
struct HoursForm {
    queue: String,
    opens: String,
    closes: String,
}

async fn set_hours(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<HoursForm>,
) -> WebResult<Response> {
    match chat::set_hours(&state, &staff, &f.queue, &f.opens, &f.closes).await {
        Ok(_) => Ok(redirect("/console/chat/settings?done=1")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/console/chat/settings?error=hours")),
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct SearchParams {
    q: Option<String>,
    cursor: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<SearchParams>,
) -> WebResult<Response> {
    let q = p.q.clone().unwrap_or_default();
    let page = if q.trim().is_empty() {
        None
    } else {
        Some(
            chat::search(
                &state,
                &staff,
                &q,
                Cursor::parse(p.cursor.as_deref())?,
                PAGE_SIZE,
            )
            .await?,
        )
    };
    if page.is_none() {
        staff.require(&[Role::HeadOfficeAdmin])?;
    }
    let body = html! {
        form.row method="get" action="/console/chat/search" {
            input name="q" value=(q) placeholder=(ctx.t("搜索聊天记录", "Search conversations"));
            button.btn type="submit" { (ctx.t("搜索", "Search")) }
        }
        @if let Some(page) = &page {
            @if page.items.is_empty() { p.muted #no-results { (ctx.t("没有找到。", "Nothing found.")) } }
            table #search-results {
                @for f in &page.items {
                    tr {
                        td { (when(f.message.created_at)) }
                        td { (queue_label(&ctx, &f.queue)) }
                        td { (f.message.sender) @if let Some(n) = &f.message.staff_name { " · " (n) } }
                        td { (f.message.body) }
                        td { a href={ "/console/chat?view=open&c=" (f.message.conversation_id) } { (ctx.t("打开", "Open")) } }
                    }
                }
            }
            (pager(&ctx, "/console/chat/search", &[("q", q.as_str())], "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("搜索聊天记录", "Search conversations"),
        body,
    ))
}
