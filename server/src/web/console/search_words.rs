//! The console's search words (搜索词), head office only: the hot words as shoppers see them,
//! pinning a word to the front of them or blocking one from them, and the most searched terms of
//! the last week with their counts — through [`crate::app::search_words`], as the API.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

use crate::app::search_words as words_app;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{console_page, redirect, urlencode, Ctx, Form, Staff, WebResult};

/// Search word routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/search-words", get(page).post(set))
        .route("/console/search-words/remove", post(remove))
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    done: Option<String>,
    error: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    let configured = words_app::words(&state, &staff).await?;
    let top = words_app::top_terms(&state, &staff, 50).await?;
    let hot = words_app::hot(&state).await?;
    let kind_label = |kind: &str| match kind {
        "pinned" => ctx.t("置顶", "Pinned"),
        _ => ctx.t("屏蔽", "Blocked"),
    };
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" { (ctx.t("已保存。", "Saved.")) } }
        @if p.error.is_some() { div.notice.err role="alert" #words-error {
            (ctx.t("搜索词为 1–32 个字符，不含控制字符。", "A search word is 1–32 characters, no control characters."))
        } }
        div.card #hot-now {
            b { (ctx.t("顾客现在看到的热门搜索", "Popular searches shoppers see now")) }
            @if hot.is_empty() { p.muted { (ctx.t("暂无。", "None yet.")) } }
            div.chips { @for w in hot.iter() { span.chip { (w) } } }
        }
        form.card.row #word-form method="post" action="/console/search-words" {
            (ctx.csrf_field())
            input name="word" placeholder=(ctx.t("搜索词", "Search word")) style="max-width:220px";
            select name="kind" {
                option value="pinned" { (ctx.t("置顶到热门搜索", "Pin to popular searches")) }
                option value="blocked" { (ctx.t("不在热门搜索中显示", "Never show as popular")) }
            }
            button.btn #save-word type="submit" { (ctx.t("保存", "Save")) }
        }
        div.card #configured-words {
            b { (ctx.t("置顶与屏蔽", "Pinned and blocked")) }
            div.table-wrap { table {
                @for w in &configured { tr {
                    td { (w.word) } td { (kind_label(&w.kind)) } td.muted { (w.created_by) }
                    td { form.inline method="post" action="/console/search-words/remove" {
                        (ctx.csrf_field())
                        input type="hidden" name="word" value=(w.word);
                        button.link type="submit" { (ctx.t("移除", "Remove")) }
                    } }
                } }
            } }
        }
        div.card #top-terms {
            b { (ctx.t("近 7 天搜索最多（有结果的搜索）", "Most searched, last 7 days (searches that found something)")) }
            div.table-wrap { table {
                @for (term, n) in &top { tr {
                    td { a href={ "/search?q=" (urlencode(term)) } target="_blank" { (term) } } td { (n) }
                } }
            } }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("搜索词", "Search words"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct WordForm {
    word: String,
    #[serde(default)]
    kind: String,
}

async fn set(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<WordForm>,
) -> WebResult<Response> {
    match words_app::set_word(&state, &staff, &form.word, &form.kind).await {
        Ok(_) => Ok(redirect("/console/search-words?done=1")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/console/search-words?error=word")),
        Err(e) => Err(e.into()),
    }
}

async fn remove(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<WordForm>,
) -> WebResult<Response> {
    words_app::remove_word(&state, &staff, &form.word).await?;
    Ok(redirect("/console/search-words?done=1"))
}
