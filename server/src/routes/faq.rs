//! The service bot's FAQ knowledge base and the bot itself over the API
//! ([`crate::app::service_bot`]): head office lists, creates and edits entries (turning them on
//! and off); any staff member turns an agent's answer into an entry; anyone — a logged-in
//! member with their member code in `X-Member-Code`, or nobody — asks the bot.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{ClientAddr, StaffActor};
use crate::app::service_bot::{self, BotQuestion, BotReply, Lang};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::faq::{FaqContent, FaqEntry};
use crate::storage::paging::{self, Cursor, Page};

/// FAQ routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_entry, update))
        .routes(routes!(learn))
        .routes(routes!(ask))
}

/// Which entries, and the page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FaqQuery {
    /// Text found (case-insensitive) in a question, answer, keyword or example.
    pub q: Option<String>,
    /// Only enabled (`true`) or disabled (`false`) entries.
    pub enabled: Option<bool>,
    /// `next_cursor` of the previous page; a cursor that is not one is a 400 `bad_cursor`.
    pub cursor: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<i64>,
}

/// Head office's FAQ entries, newest first (head office).
#[utoipa::path(get, path = "/faq", tag = "service-bot", security(("staff" = [])), params(FaqQuery),
    responses((status = 200, body = Page<FaqEntry>), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<FaqQuery>,
) -> AppResult<Json<Page<FaqEntry>>> {
    let cursor = Cursor::<i64>::parse(q.cursor.as_deref())?;
    Ok(Json(
        service_bot::list(
            &state,
            &staff,
            q.q.as_deref(),
            q.enabled,
            cursor.as_ref(),
            paging::api_limit(q.limit),
        )
        .await?,
    ))
}

/// A new entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFaqRequest {
    /// Client-generated UUIDv7: a retry with it answers the first entry.
    pub id: Uuid,
    /// The question in Chinese (required; at most 2,000 characters).
    pub question_zh: String,
    /// The question in English.
    #[serde(default)]
    pub question_en: String,
    /// The answer in Chinese (required; at most 2,000 characters).
    pub answer_zh: String,
    /// The answer in English.
    #[serde(default)]
    pub answer_en: String,
    /// Keywords (at most 50, each at most 200 characters on one line).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Example phrasings (at most 50, each at most 200 characters on one line).
    #[serde(default)]
    pub examples: Vec<String>,
}

/// Adds an entry (head office; idempotent by `id`; audited as `faq.create`). The bot uses it
/// at once. 422 on a bad shape or field.
#[utoipa::path(post, path = "/faq", tag = "service-bot", security(("staff" = [])),
    request_body = NewFaqRequest,
    responses((status = 200, body = FaqEntry), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn create(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewFaqRequest>,
) -> AppResult<Json<FaqEntry>> {
    let content = FaqContent {
        question_zh: req.question_zh,
        question_en: req.question_en,
        answer_zh: req.answer_zh,
        answer_en: req.answer_en,
        keywords: req.keywords,
        examples: req.examples,
    };
    Ok(Json(
        service_bot::create(&state, &staff, req.id, &content).await?,
    ))
}

/// One entry (head office); 404 when there is none.
#[utoipa::path(get, path = "/faq/{id}", tag = "service-bot", security(("staff" = [])),
    params(("id" = i64, Path, description = "entry id")),
    responses((status = 200, body = FaqEntry), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn get_entry(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Json<FaqEntry>> {
    Ok(Json(service_bot::entry(&state, &staff, id).await?))
}

/// An entry's new content, and whether the bot uses it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFaqRequest {
    /// The question in Chinese (required).
    pub question_zh: String,
    /// The question in English.
    #[serde(default)]
    pub question_en: String,
    /// The answer in Chinese (required).
    pub answer_zh: String,
    /// The answer in English.
    #[serde(default)]
    pub answer_en: String,
    /// Keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Example phrasings.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Turn the entry on (`true`) or off (`false`); absent: unchanged.
    pub enabled: Option<bool>,
}

/// Replaces an entry's content and optionally turns it on or off (head office; idempotent;
/// audited as `faq.update`, `faq.enable`, `faq.disable`). 404 when there is none; 422 on a bad
/// field.
#[utoipa::path(put, path = "/faq/{id}", tag = "service-bot", security(("staff" = [])),
    params(("id" = i64, Path, description = "entry id")), request_body = UpdateFaqRequest,
    responses((status = 200, body = FaqEntry), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn update(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(req): Json<UpdateFaqRequest>,
) -> AppResult<Json<FaqEntry>> {
    let content = FaqContent {
        question_zh: req.question_zh,
        question_en: req.question_en,
        answer_zh: req.answer_zh,
        answer_en: req.answer_en,
        keywords: req.keywords,
        examples: req.examples,
    };
    let mut entry = service_bot::update(&state, &staff, id, &content).await?;
    if let Some(enabled) = req.enabled {
        if enabled != entry.enabled {
            entry = service_bot::set_enabled(&state, &staff, id, enabled).await?;
        }
    }
    Ok(Json(entry))
}

/// An agent's answer to turn into an entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LearnRequest {
    /// Client-generated UUIDv7: a retry with it answers the first entry.
    pub id: Uuid,
    /// The shopper's question (1–500 characters).
    pub question: String,
    /// The agent's answer (1–2,000 characters).
    pub answer: String,
    /// The language of both (default `zh`).
    #[serde(default)]
    pub lang: Lang,
    /// The chat conversation it came from (free text, at most 200 characters).
    pub conversation: Option<String>,
}

/// The entry learned.
#[derive(Debug, Serialize, ToSchema)]
pub struct Learned {
    /// The new entry's id.
    pub faq_id: i64,
}

/// Turns an agent's answer into a new FAQ entry in one click (any staff member; idempotent by
/// `id`; audited as `faq.create` with source `agent`). The bot answers that question with it at
/// once. 422 on an empty or over-long question or answer.
#[utoipa::path(post, path = "/faq/learn", tag = "service-bot", security(("staff" = [])),
    request_body = LearnRequest,
    responses((status = 200, body = Learned), (status = 422, body = crate::error::ErrorBody)))]
async fn learn(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<LearnRequest>,
) -> AppResult<Json<Learned>> {
    let faq_id = service_bot::learn_from_agent_once(
        &state,
        &staff,
        req.id,
        &req.question,
        &req.answer,
        req.lang,
        req.conversation.as_deref(),
    )
    .await?;
    Ok(Json(Learned { faq_id }))
}

/// A question to the bot.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The question (1–500 characters).
    pub text: String,
    /// The order it is about (answered only when it is the member's own).
    pub order_id: Option<Uuid>,
    /// The shopper's language (default `zh`).
    #[serde(default)]
    pub lang: Lang,
}

/// Asks the bot (anyone; a member adds their member code in `X-Member-Code` for answers about
/// their own orders; rate limited per client address). Answers the bot's reply: an answer (from
/// an FAQ entry, `faq_id`, or from the member's orders) or a hand-over to a person with its
/// reason (`asked`, `low_confidence`, `keyword`). 400 `empty_question` / `question_too_long`
/// (over 500 characters); 401 for a member code that is not valid.
#[utoipa::path(post, path = "/faq/ask", tag = "service-bot", security(()),
    params(("X-Member-Code" = Option<String>, Header, description = "the member's current member code (MC1), optional")),
    request_body = AskRequest,
    responses((status = 200, body = BotReply), (status = 401, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn ask(
    client: ClientAddr,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<AskRequest>,
) -> AppResult<Json<BotReply>> {
    state
        .limiter
        .check(
            &format!("faq-ask:{}", client.limit_key()),
            state.settings.service_bot.asks_per_minute_per_address,
        )
        .await?;
    let member = if headers.contains_key(super::MEMBER_CODE) {
        Some(super::member_from_headers(&state, &headers)?)
    } else {
        None
    };
    Ok(Json(
        service_bot::reply(
            &state,
            BotQuestion {
                text: &req.text,
                member,
                order_id: req.order_id,
                lang: req.lang,
            },
        )
        .await?,
    ))
}
