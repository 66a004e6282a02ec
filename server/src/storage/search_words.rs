//! Hot search words and search history: the searches per normalised term and day (added to in
//! batches), head office's pinned and blocked words, and each member's recent searches.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, Store};
use crate::error::{AppError, AppResult};

/// How many recent searches a member keeps.
pub const HISTORY_KEPT: i64 = 20;

/// Adds `counts` (term, China day number, searches) to the daily counts, in one transaction.
pub async fn add_counts(store: &Store, counts: &[(String, i64, i64)]) -> AppResult<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    for (term, day, n) in counts {
        sqlx::query(
            "INSERT INTO search_term_days (term, day, searches) VALUES ($1, $2, $3) \
             ON CONFLICT (term, day) DO UPDATE SET searches = search_term_days.searches + excluded.searches",
        )
        .bind(term)
        .bind(day)
        .bind(n)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The most searched terms from China day `since_day` on, most first (ties by term):
/// `(term, searches)`, blocked words left out, at most `limit`.
pub async fn top_terms(store: &Store, since_day: i64, limit: i64) -> AppResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT d.term, CAST(SUM(d.searches) AS BIGINT) AS total FROM search_term_days d \
         WHERE d.day >= $1 AND NOT EXISTS (SELECT 1 FROM search_words w \
         WHERE w.word = d.term AND w.kind = 'blocked') \
         GROUP BY d.term ORDER BY total DESC, d.term LIMIT $2",
    )
    .bind(since_day)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((col(r, "term")?, col(r, "total")?)))
        .collect()
}

/// One of head office's words.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SearchWord {
    /// The (normalised) word.
    pub word: String,
    /// `pinned` (shown first among the hot words) or `blocked` (never shown as hot).
    pub kind: String,
    /// Order among the pinned words.
    pub position: i64,
    /// Who added it.
    pub created_by: String,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Head office's words: pinned ones in order, then blocked ones by word.
pub async fn words(store: &Store) -> AppResult<Vec<SearchWord>> {
    let rows = sqlx::query(
        "SELECT word, kind, position, created_by, created_at FROM search_words \
         ORDER BY kind DESC, position, word",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SearchWord {
                word: col(r, "word")?,
                kind: col(r, "kind")?,
                position: col(r, "position")?,
                created_by: col(r, "created_by")?,
                created_at: from_ms(col(r, "created_at")?),
            })
        })
        .collect()
}

/// Sets `word` as `kind` (a pinned word goes last among the pinned; setting it again keeps
/// its place), audited as `search_word.set`.
pub async fn set_word(store: &Store, word: &str, kind: &str, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let row = sqlx::query(
        "SELECT CAST(COALESCE(MAX(position), 0) AS BIGINT) AS last FROM search_words WHERE kind = 'pinned'",
    )
    .fetch_one(&mut *tx)
    .await?;
    let last: i64 = col(&row, "last")?;
    sqlx::query(
        "INSERT INTO search_words (word, kind, position, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (word) DO UPDATE SET \
         position = CASE WHEN search_words.kind = excluded.kind THEN search_words.position ELSE excluded.position END, \
         kind = excluded.kind",
    )
    .bind(word)
    .bind(kind)
    .bind(last + 1)
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        actor,
        "search_word.set",
        "search_word",
        word,
        serde_json::json!({"kind": kind}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes one of head office's words (404 when it is none), audited as `search_word.remove`.
pub async fn remove_word(store: &Store, word: &str, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let gone = sqlx::query("DELETE FROM search_words WHERE word = $1")
        .bind(word)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(AppError::not_found(format!("search word {word} not found")));
    }
    super::audit::record(
        &mut tx,
        actor,
        "search_word.remove",
        "search_word",
        word,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Remembers that `member` searched for `term` now, keeping their latest [`HISTORY_KEPT`].
pub async fn remember(store: &Store, member: Uuid, term: &str) -> AppResult<()> {
    let id = member.to_string();
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO member_searches (member_id, term, searched_at) VALUES ($1, $2, $3) \
         ON CONFLICT (member_id, term) DO UPDATE SET searched_at = excluded.searched_at",
    )
    .bind(&id)
    .bind(term)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM member_searches WHERE member_id = $1 AND term NOT IN \
         (SELECT term FROM member_searches WHERE member_id = $1 \
          ORDER BY searched_at DESC, term LIMIT $2)",
    )
    .bind(&id)
    .bind(HISTORY_KEPT)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A member's recent searches, latest first.
pub async fn history(store: &Store, member: Uuid) -> AppResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT term FROM member_searches WHERE member_id = $1 ORDER BY searched_at DESC, term LIMIT $2",
    )
    .bind(member.to_string())
    .bind(HISTORY_KEPT)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| col(r, "term")).collect()
}

/// Forgets a member's searches; how many were forgotten.
pub async fn clear_history(store: &Store, member: Uuid) -> AppResult<u64> {
    Ok(
        sqlx::query("DELETE FROM member_searches WHERE member_id = $1")
            .bind(member.to_string())
            .execute(store.writer())
            .await?
            .rows_affected(),
    )
}
