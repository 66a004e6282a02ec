//! The console's FAQ knowledge base (智能客服知识库, issue 18), head office only: the entries
//! (`/console/faq`: search, enabled or disabled, paged, and a box to try the bot), a new entry
//! (`/console/faq/new`) and an entry's page (`/console/faq/{id}`: edit, turn on or off). Thin
//! over [`crate::app::service_bot`], which checks the role, audits every change and rebuilds
//! the bot's index.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::service_bot::{self, BotQuestion, BotReply, HandoverReason, Lang as BotLang};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage::faq::{FaqContent, FaqEntry, FaqSource};
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::web::{console_page, pager, redirect, when, Ctx, Form, Lang, Staff, WebResult};

/// FAQ routes of the console.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/faq", get(list_page))
        .route("/console/faq/new", get(new_page).post(create))
        .route("/console/faq/{id}", get(entry_page).post(save))
        .route("/console/faq/{id}/{step}", post(toggle))
}

#[derive(Debug, Deserialize, Default)]
struct ListParams {
    q: Option<String>,
    /// `on`, `off` or all.
    enabled: Option<String>,
    cursor: Option<String>,
    /// A question to try the bot with.
    ask: Option<String>,
}

fn source_label(ctx: &Ctx, source: FaqSource) -> &'static str {
    match source {
        FaqSource::HeadOffice => ctx.t("总部", "Head office"),
        FaqSource::Agent => ctx.t("客服沉淀", "Learned from an agent"),
    }
}

fn bot_lang(lang: Lang) -> BotLang {
    match lang {
        Lang::Zh => BotLang::Zh,
        Lang::En => BotLang::En,
    }
}

async fn list_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<ListParams>,
) -> WebResult<Response> {
    let enabled = match p.enabled.as_deref() {
        Some("on") => Some(true),
        Some("off") => Some(false),
        _ => None,
    };
    let cursor = Cursor::<i64>::parse(p.cursor.as_deref())?;
    let q = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let page = service_bot::list(&state, &staff, q, enabled, cursor.as_ref(), PAGE_SIZE).await?;
    let tried = match p.ask.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(text) => {
            let question = BotQuestion {
                text,
                member: None,
                order_id: None,
                lang: bot_lang(ctx.lang),
            };
            // A question the bot refuses (too long) is shown; anything else is an error page.
            match service_bot::reply(&state, question).await {
                Ok(reply) => Some(Ok(reply)),
                Err(AppError::Invalid { message, .. }) => Some(Err(message)),
                Err(e) => return Err(e.into()),
            }
        }
        None => None,
    };
    let filter = p.enabled.clone().unwrap_or_default();
    let body = html! {
        div.row style="margin-bottom:10px" {
            a.btn #new-faq href="/console/faq/new" { (ctx.t("新增问答", "New entry")) }
        }
        form.card.row #faq-search method="get" action="/console/faq" {
            input name="q" value=(q.unwrap_or("")) placeholder=(ctx.t("搜索问题、答案、关键词", "Search questions, answers, keywords")) aria-label=(ctx.t("搜索", "Search"));
            select name="enabled" aria-label=(ctx.t("状态", "Status")) {
                option value="" selected[filter.is_empty()] { (ctx.t("全部", "All")) }
                option value="on" selected[filter == "on"] { (ctx.t("启用", "Enabled")) }
                option value="off" selected[filter == "off"] { (ctx.t("停用", "Disabled")) }
            }
            button.btn.secondary type="submit" { (ctx.t("搜索", "Search")) }
        }
        form.card.row #faq-try method="get" action="/console/faq" {
            input name="ask" value=(p.ask.as_deref().unwrap_or("")) maxlength="500" placeholder=(ctx.t("试问机器人，例如：运费怎么算", "Try the bot, e.g. how much is delivery")) aria-label=(ctx.t("试问机器人", "Try the bot"));
            button.btn.secondary #try-bot type="submit" { (ctx.t("试问", "Ask")) }
            @if let Some(reply) = &tried {
                div #bot-reply style="width:100%" { (reply_markup(&ctx, reply)) }
            }
        }
        @if page.items.is_empty() {
            p.muted #no-faq { (ctx.t("没有问答。", "No entries.")) }
        } @else {
            div.table-wrap { table #faq-entries {
                tr { th { "#" } th { (ctx.t("问题", "Question")) } th { (ctx.t("关键词", "Keywords")) }
                     th { (ctx.t("来源", "Source")) } th { (ctx.t("状态", "Status")) } th { (ctx.t("更新", "Updated")) } }
                @for e in &page.items {
                    tr.faq-row id={ "faq-" (e.id) } data-enabled=(e.enabled) {
                        td { (e.id) }
                        td { a href={ "/console/faq/" (e.id) } { (ctx.lang.pick(&e.content.question_zh, &e.content.question_en)) } }
                        td.muted { (e.content.keywords.join("、")) }
                        td { (source_label(&ctx, e.source)) }
                        td { @if e.enabled { (ctx.t("启用", "Enabled")) } @else { span.muted { (ctx.t("停用", "Disabled")) } } }
                        td { (when(e.updated_at.timestamp_millis())) br; span.muted { (e.updated_by) } }
                    }
                }
            } }
        }
        (pager(&ctx, "/console/faq", &[("q", q.unwrap_or("")), ("enabled", &filter)], "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("智能客服知识库", "Service bot FAQ"),
        body,
    ))
}

fn reply_markup(ctx: &Ctx, reply: &Result<BotReply, String>) -> Markup {
    html! {
        @match reply {
            Ok(BotReply::Answer { text, faq_id, score }) => {
                p { b { (ctx.t("回答：", "Answer: ")) } (text) }
                p.muted { @if let Some(id) = faq_id { a href={ "/console/faq/" (id) } { "#" (id) } " · " }
                    (ctx.t("得分 ", "Score ")) (format!("{score:.2}")) }
            }
            Ok(BotReply::Handover { reason, text }) => {
                p { b { (ctx.t("转人工：", "Hand-over: ")) } (text) }
                p.muted { (match reason {
                    HandoverReason::Asked => ctx.t("顾客要求人工", "asked for a person"),
                    HandoverReason::LowConfidence => ctx.t("没有足够相似的问答", "no entry close enough"),
                    HandoverReason::Keyword => ctx.t("命中转人工关键词", "a hand-over keyword"),
                }) }
            }
            Err(message) => { p.field-error { (message) } }
        }
    }
}

fn error_text(ctx: &Ctx, field: &str) -> &'static str {
    match field {
        "question_zh" => ctx.t(
            "请填写中文问题（最多 2000 字）。",
            "The Chinese question is required (at most 2,000 characters).",
        ),
        "answer_zh" => ctx.t(
            "请填写中文答案（最多 2000 字）。",
            "The Chinese answer is required (at most 2,000 characters).",
        ),
        "keywords" | "examples" => ctx.t(
            "关键词和例句每行一个，每个最多 200 字，最多 50 个。",
            "Keywords and examples: one per line, each at most 200 characters, at most 50.",
        ),
        _ => ctx.t("内容有误，请检查。", "Please check the entry."),
    }
}

fn entry_form(ctx: &Ctx, action: &str, id: Option<Uuid>, c: &FaqContent) -> Markup {
    html! {
        form.card #faq-form method="post" action=(action) {
            (ctx.csrf_field())
            @if let Some(id) = id { input type="hidden" name="id" value=(id); }
            div.field { label for="question_zh" { (ctx.t("问题（中文）", "Question (Chinese)")) }
                input #question_zh name="question_zh" required maxlength="2000" value=(c.question_zh); }
            div.field { label for="question_en" { (ctx.t("问题（英文）", "Question (English)")) }
                input #question_en name="question_en" maxlength="2000" value=(c.question_en); }
            div.field { label for="answer_zh" { (ctx.t("答案（中文）", "Answer (Chinese)")) }
                textarea #answer_zh name="answer_zh" required maxlength="2000" rows="4" { (c.answer_zh) } }
            div.field { label for="answer_en" { (ctx.t("答案（英文）", "Answer (English)")) }
                textarea #answer_en name="answer_en" maxlength="2000" rows="4" { (c.answer_en) } }
            div.field { label for="keywords" { (ctx.t("关键词（每行一个）", "Keywords (one per line)")) }
                textarea #keywords name="keywords" rows="3" { (c.keywords.join("\n")) } }
            div.field { label for="examples" { (ctx.t("例句：顾客的其他问法（每行一个，中英文均可）", "Example phrasings (one per line, either language)")) }
                textarea #examples name="examples" rows="5" { (c.examples.join("\n")) } }
            button.btn #save-faq type="submit" { (ctx.t("保存", "Save")) }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct EntryForm {
    id: Option<Uuid>,
    #[serde(default)]
    question_zh: String,
    #[serde(default)]
    question_en: String,
    #[serde(default)]
    answer_zh: String,
    #[serde(default)]
    answer_en: String,
    #[serde(default)]
    keywords: String,
    #[serde(default)]
    examples: String,
}

impl EntryForm {
    fn content(&self) -> FaqContent {
        let lines = |t: &str| t.lines().map(str::to_owned).collect();
        FaqContent {
            question_zh: self.question_zh.clone(),
            question_en: self.question_en.clone(),
            answer_zh: self.answer_zh.clone(),
            answer_en: self.answer_en.clone(),
            keywords: lines(&self.keywords),
            examples: lines(&self.examples),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct FormParams {
    done: Option<String>,
    error: Option<String>,
}

async fn new_page(
    State(_state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<FormParams>,
) -> WebResult<Response> {
    staff.require(&[crate::actor::Role::HeadOfficeAdmin])?;
    let body = html! {
        @if let Some(field) = &p.error { div.notice.err role="alert" #faq-error { (error_text(&ctx, field)) } }
        (entry_form(&ctx, "/console/faq/new", Some(retail_domain::ids::new_id()), &FaqContent::default()))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("新增问答", "New FAQ entry"),
        body,
    ))
}

fn invalid_field(e: &AppError) -> Option<String> {
    match e {
        AppError::Invalid { fields, .. } => Some(
            fields
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| "entry".into()),
        ),
        _ => None,
    }
}

async fn create(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<EntryForm>,
) -> WebResult<Response> {
    let id = form.id.unwrap_or_else(retail_domain::ids::new_id);
    match service_bot::create(&state, &staff, id, &form.content()).await {
        Ok(entry) => Ok(redirect(&format!("/console/faq/{}?done=saved", entry.id))),
        Err(e) => match invalid_field(&e) {
            Some(field) => Ok(redirect(&format!("/console/faq/new?error={field}"))),
            None => Err(e.into()),
        },
    }
}

async fn entry_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<i64>,
    Query(p): Query<FormParams>,
) -> WebResult<Response> {
    let e: FaqEntry = service_bot::entry(&state, &staff, id).await?;
    let body = html! {
        @if let Some(done) = &p.done { div.notice.ok role="status" #faq-done { (match done.as_str() {
            "enable" => ctx.t("已启用。", "Enabled."),
            "disable" => ctx.t("已停用，机器人不再使用。", "Disabled: the bot no longer uses it."),
            _ => ctx.t("已保存，机器人已生效。", "Saved; the bot uses it now."),
        }) } }
        @if let Some(field) = &p.error { div.notice.err role="alert" #faq-error { (error_text(&ctx, field)) } }
        div.card #faq-meta {
            p { "#" (e.id) " · " (source_label(&ctx, e.source))
                @if let Some(c) = &e.source_conversation { " · " (ctx.t("会话 ", "Conversation ")) span #faq-conversation { (c) } }
                " · " span #faq-status data-enabled=(e.enabled) { @if e.enabled { (ctx.t("启用", "Enabled")) } @else { (ctx.t("停用", "Disabled")) } } }
            p.muted { (ctx.t("创建 ", "Created ")) (when(e.created_at.timestamp_millis())) " " (e.created_by)
                " · " (ctx.t("更新 ", "Updated ")) (when(e.updated_at.timestamp_millis())) " " (e.updated_by) }
            form.inline method="post" action={ "/console/faq/" (e.id) "/" (if e.enabled { "disable" } else { "enable" }) } {
                (ctx.csrf_field())
                @if e.enabled {
                    button.btn.secondary #disable-faq type="submit" { (ctx.t("停用", "Disable")) }
                } @else {
                    button.btn #enable-faq type="submit" { (ctx.t("启用", "Enable")) }
                }
            }
        }
        (entry_form(&ctx, &format!("/console/faq/{}", e.id), None, &e.content))
        p { a href="/console/faq" { (ctx.t("返回知识库", "Back to the FAQ")) } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("编辑问答", "FAQ entry"),
        body,
    ))
}

async fn save(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<i64>,
    Form(form): Form<EntryForm>,
) -> WebResult<Response> {
    match service_bot::update(&state, &staff, id, &form.content()).await {
        Ok(_) => Ok(redirect(&format!("/console/faq/{id}?done=saved"))),
        Err(e) => match invalid_field(&e) {
            Some(field) => Ok(redirect(&format!("/console/faq/{id}?error={field}"))),
            None => Err(e.into()),
        },
    }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

async fn toggle(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path((id, step)): Path<(i64, String)>,
    Form(_): Form<NoFields>,
) -> WebResult<Response> {
    let enabled = match step.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(AppError::not_found("no such step").into()),
    };
    service_bot::set_enabled(&state, &staff, id, enabled).await?;
    Ok(redirect(&format!("/console/faq/{id}?done={step}")))
}
