//! The service bot's FAQ knowledge base (issue 18): entries with their question and answer in
//! Chinese and English, keywords and example phrasings, on or off, and where each came from
//! (head office, or learned from an agent's answer in a chat). Creates and edits are audited
//! (`faq.create`, `faq.update`, `faq.enable`, `faq.disable`) and move the `faq_changes` counter,
//! which the bot's in-memory index watches.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::paging::{Cursor, Page};
use sqlx::any::AnyRow;

use super::{col, from_ms, now_ms, Store};
use crate::error::{AppError, AppResult};

/// Where an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaqSource {
    /// Written by head office in the console (or loaded by them).
    HeadOffice,
    /// Learned from an agent's answer in a chat.
    Agent,
}

impl FaqSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeadOffice => "head_office",
            Self::Agent => "agent",
        }
    }
}

impl std::str::FromStr for FaqSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "head_office" => Ok(Self::HeadOffice),
            "agent" => Ok(Self::Agent),
            other => Err(format!("unknown FAQ source {other:?}")),
        }
    }
}

/// What an entry says (the editable part).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct FaqContent {
    /// The question in Chinese (required).
    pub question_zh: String,
    /// The question in English (may be empty).
    #[serde(default)]
    pub question_en: String,
    /// The answer in Chinese (required).
    pub answer_zh: String,
    /// The answer in English (may be empty: the Chinese answer is given).
    #[serde(default)]
    pub answer_en: String,
    /// Keywords: a question containing one ranks this entry higher.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Other ways shoppers ask it, in either language.
    #[serde(default)]
    pub examples: Vec<String>,
}

/// One entry.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FaqEntry {
    /// Id.
    pub id: i64,
    /// The client id of the request that created it.
    pub client_id: String,
    /// What it says.
    #[serde(flatten)]
    pub content: FaqContent,
    /// The bot uses it.
    pub enabled: bool,
    /// Where it came from.
    pub source: FaqSource,
    /// The chat conversation it was learned from (free text), for `agent` entries.
    pub source_conversation: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Who changed it last.
    pub updated_by: String,
    /// When.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A new entry.
#[derive(Clone, Debug)]
pub struct NewFaq<'a> {
    /// The client id (UUIDv7 text) of the create.
    pub client_id: &'a str,
    /// What it says (checked by the application layer).
    pub content: &'a FaqContent,
    /// Where it came from.
    pub source: FaqSource,
    /// The conversation, for learned entries.
    pub conversation: Option<&'a str>,
    /// Who creates it (`staff:name`).
    pub actor: &'a str,
}

const SELECT: &str = "SELECT id, client_id, question_zh, question_en, answer_zh, answer_en, keywords, \
     examples, enabled, source, source_conversation, created_by, created_at, updated_by, updated_at \
     FROM faq_entries";

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn entry(r: &AnyRow) -> AppResult<FaqEntry> {
    Ok(FaqEntry {
        id: col(r, "id")?,
        client_id: col(r, "client_id")?,
        content: FaqContent {
            question_zh: col(r, "question_zh")?,
            question_en: col(r, "question_en")?,
            answer_zh: col(r, "answer_zh")?,
            answer_en: col(r, "answer_en")?,
            keywords: lines(&col::<String>(r, "keywords")?),
            examples: lines(&col::<String>(r, "examples")?),
        },
        enabled: col::<i64>(r, "enabled")? != 0,
        source: super::parse_col(r, "source")?,
        source_conversation: col(r, "source_conversation")?,
        created_by: col(r, "created_by")?,
        created_at: from_ms(col(r, "created_at")?),
        updated_by: col(r, "updated_by")?,
        updated_at: from_ms(col(r, "updated_at")?),
    })
}

/// Creates an entry (audited as `faq.create`); a retry with the same client id answers the
/// first entry and `false` (nothing written).
pub async fn create(store: &Store, new: &NewFaq<'_>) -> AppResult<(FaqEntry, bool)> {
    if let Some(existing) = by_client_id(store, new.client_id).await? {
        return Ok((existing, false));
    }
    let mut tx = store.begin().await?;
    let id = super::next_counter(&mut tx, "faq").await?;
    super::next_counter(&mut tx, "faq_changes").await?;
    let now = now_ms();
    let c = new.content;
    let inserted = sqlx::query(
        "INSERT INTO faq_entries (id, client_id, question_zh, question_en, answer_zh, answer_en, \
         keywords, examples, enabled, source, source_conversation, created_by, created_at, \
         updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11, $12, $11, $12) \
         ON CONFLICT (client_id) DO NOTHING",
    )
    .bind(id)
    .bind(new.client_id)
    .bind(&c.question_zh)
    .bind(&c.question_en)
    .bind(&c.answer_zh)
    .bind(&c.answer_en)
    .bind(c.keywords.join("\n"))
    .bind(c.examples.join("\n"))
    .bind(new.source.as_str())
    .bind(new.conversation)
    .bind(new.actor)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        drop(tx);
        let existing = by_client_id(store, new.client_id)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("FAQ create lost its row")))?;
        return Ok((existing, false));
    }
    super::audit::record(
        &mut tx,
        new.actor,
        "faq.create",
        "faq",
        &id.to_string(),
        serde_json::json!({
            "question_zh": c.question_zh,
            "source": new.source.as_str(),
            "conversation": new.conversation,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok((get(store, id).await?, true))
}

/// Replaces what an entry says (audited as `faq.update` with the old and new question); 404
/// when there is no such entry.
pub async fn update(store: &Store, id: i64, content: &FaqContent, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let before = sqlx::query(&format!("{SELECT} WHERE id = $1{}", store.for_update()))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::not_found(format!("FAQ entry {id} not found")))?;
    let before = entry(&before)?;
    super::next_counter(&mut tx, "faq_changes").await?;
    sqlx::query(
        "UPDATE faq_entries SET question_zh = $2, question_en = $3, answer_zh = $4, answer_en = $5, \
         keywords = $6, examples = $7, updated_by = $8, updated_at = $9 WHERE id = $1",
    )
    .bind(id)
    .bind(&content.question_zh)
    .bind(&content.question_en)
    .bind(&content.answer_zh)
    .bind(&content.answer_en)
    .bind(content.keywords.join("\n"))
    .bind(content.examples.join("\n"))
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        actor,
        "faq.update",
        "faq",
        &id.to_string(),
        serde_json::json!({
            "before": before.content,
            "after": content,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns an entry on or off (audited as `faq.enable` / `faq.disable`); 404 when there is none.
pub async fn set_enabled(store: &Store, id: i64, enabled: bool, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "UPDATE faq_entries SET enabled = $2, updated_by = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(i64::from(enabled))
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Err(AppError::not_found(format!("FAQ entry {id} not found")));
    }
    super::next_counter(&mut tx, "faq_changes").await?;
    super::audit::record(
        &mut tx,
        actor,
        if enabled { "faq.enable" } else { "faq.disable" },
        "faq",
        &id.to_string(),
        serde_json::json!({ "enabled": enabled }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One entry; 404 when there is none.
pub async fn get(store: &Store, id: i64) -> AppResult<FaqEntry> {
    let row = sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.writer())
        .await?
        .ok_or_else(|| AppError::not_found(format!("FAQ entry {id} not found")))?;
    entry(&row)
}

/// The entry created with this client id, if any.
pub async fn by_client_id(store: &Store, client_id: &str) -> AppResult<Option<FaqEntry>> {
    sqlx::query(&format!("{SELECT} WHERE client_id = $1"))
        .bind(client_id)
        .fetch_optional(store.writer())
        .await?
        .as_ref()
        .map(entry)
        .transpose()
}

/// Every enabled entry (what the bot's index is built from), by id.
pub async fn enabled(store: &Store) -> AppResult<Vec<FaqEntry>> {
    let rows = sqlx::query(&format!("{SELECT} WHERE enabled = 1 ORDER BY id"))
        .fetch_all(store.writer())
        .await?;
    rows.iter().map(entry).collect()
}

/// The knowledge base's change counter (moves on every create, edit, enable and disable).
pub async fn changes(store: &Store) -> AppResult<i64> {
    super::counter_value(store, "faq_changes").await
}

/// A page of entries, newest first: `text` (case-insensitive) in a question, an answer, a
/// keyword or an example; only enabled or disabled ones when `enabled` says so; after `cursor`.
pub async fn list(
    store: &Store,
    text: Option<&str>,
    enabled: Option<bool>,
    cursor: Option<&Cursor<i64>>,
    limit: i64,
) -> AppResult<Page<FaqEntry>> {
    let pattern = text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| format!("%{}%", t.to_lowercase()));
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE ($1 IS NULL OR LOWER(question_zh || ' ' || question_en || ' ' || answer_zh \
         || ' ' || answer_en || ' ' || keywords || ' ' || examples) LIKE $1) \
         AND ($2 IS NULL OR enabled = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(pattern)
    .bind(enabled.map(i64::from))
    .bind(cursor.map(|c| c.key))
    .bind(super::paging::fetch_limit(limit))
    .fetch_all(store.writer())
    .await?;
    let entries = rows.iter().map(entry).collect::<AppResult<Vec<_>>>()?;
    Ok(super::paging::page(entries, limit, |e| {
        Cursor::new(e.id, e.id)
    }))
}
