//! Hot search words (热搜词) and the shopper's own search history (搜索历史) for the shop's
//! search box (issue 17, member perks).
//!
//! Every search that finds something counts for its normalised term ([`normalise`]). The counts
//! are kept in memory and added to the database in one transaction at most every
//! [`FLUSH_EVERY`] by the sweeper (and once more at shutdown), so a search page never waits for
//! a write; a crash loses at most those seconds of counts, which only rank words. The hot words
//! are head office's pinned words in their order, then the most searched terms of the last
//! [`HOT_DAYS`] days, never a blocked word, at most [`HOT_WORDS`]; they are read at most every
//! [`HOT_TTL`]. A logged-in member's searches are remembered (the latest twenty terms), shown
//! under the search box, and cleared by the member or with their account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{china_day, AppState};
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;

/// How many hot words are shown.
pub const HOT_WORDS: usize = 10;
/// The days of searches the computed hot words come from.
pub const HOT_DAYS: i64 = 7;
/// How long the hot words are served before they are read again.
pub const HOT_TTL: Duration = Duration::from_secs(60);
/// How often the counted searches are added to the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Longest term counted or remembered, in characters.
pub const MAX_TERM: usize = 32;

/// The counts waiting to be written and the hot words last read.
#[derive(Debug, Default)]
pub struct SearchWords {
    pending: Mutex<HashMap<(String, i64), i64>>,
    hot: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
}

/// A search term as it is counted and remembered: trimmed, lower-cased, inner whitespace
/// collapsed to one space; `None` when empty, longer than [`MAX_TERM`] characters, or holding a
/// control character.
pub fn normalise(text: &str) -> Option<String> {
    let term = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let ok =
        !term.is_empty() && term.chars().count() <= MAX_TERM && !term.chars().any(char::is_control);
    ok.then_some(term)
}

/// Records a shop search: counted for the hot words when it `found` something, and remembered
/// for a logged-in `member` (a failed write is logged: a search never fails for it).
pub async fn record(state: &AppState, member: Option<Uuid>, text: &str, found: bool) {
    let Some(term) = normalise(text) else { return };
    if found {
        let day = china_day(storage::now_ms());
        if let Ok(mut pending) = state.search_words.pending.lock() {
            *pending.entry((term.clone(), day)).or_insert(0) += 1;
        }
    }
    if let Some(member) = member {
        if let Err(e) = storage::search_words::remember(&state.store, member, &term).await {
            tracing::warn!(error = %e, "remembering a search failed");
        }
    }
}

/// Adds the counted searches to the database (the sweeper's part); on failure they are kept
/// for the next time.
pub async fn flush(state: &AppState) -> AppResult<usize> {
    let taken: Vec<((String, i64), i64)> = match state.search_words.pending.lock() {
        Ok(mut pending) => pending.drain().collect(),
        Err(_) => return Ok(0),
    };
    if taken.is_empty() {
        return Ok(0);
    }
    let counts: Vec<(String, i64, i64)> = taken
        .iter()
        .map(|((term, day), n)| (term.clone(), *day, *n))
        .collect();
    if let Err(e) = storage::search_words::add_counts(&state.store, &counts).await {
        if let Ok(mut pending) = state.search_words.pending.lock() {
            for ((term, day), n) in taken {
                *pending.entry((term, day)).or_insert(0) += n;
            }
        }
        return Err(e);
    }
    Ok(counts.len())
}

/// The hot words: pinned words first (head office's order), then the most searched terms of
/// the last [`HOT_DAYS`] days, no blocked word, no word twice, at most [`HOT_WORDS`].
pub async fn hot(state: &AppState) -> AppResult<Arc<Vec<String>>> {
    if let Ok(hot) = state.search_words.hot.lock() {
        if let Some((at, words)) = hot.as_ref() {
            if at.elapsed() < HOT_TTL {
                return Ok(words.clone());
            }
        }
    }
    let words = Arc::new(read_hot(state).await?);
    if let Ok(mut hot) = state.search_words.hot.lock() {
        *hot = Some((Instant::now(), words.clone()));
    }
    Ok(words)
}

async fn read_hot(state: &AppState) -> AppResult<Vec<String>> {
    let configured = storage::search_words::words(&state.store).await?;
    let since = china_day(storage::now_ms()) - (HOT_DAYS - 1);
    let top = storage::search_words::top_terms(
        &state.store,
        since,
        i64::try_from(HOT_WORDS * 2).unwrap_or(20),
    )
    .await?;
    Ok(hot_list(
        configured
            .iter()
            .filter(|w| w.kind == "pinned")
            .map(|w| w.word.as_str()),
        top.iter().map(|(t, _)| t.as_str()),
    ))
}

/// Pinned words, then the counted ones, without repeats, at most [`HOT_WORDS`].
fn hot_list<'a>(
    pinned: impl Iterator<Item = &'a str>,
    counted: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(HOT_WORDS);
    for word in pinned.chain(counted) {
        if out.len() == HOT_WORDS {
            break;
        }
        if !out.iter().any(|w| w == word) {
            out.push(word.to_owned());
        }
    }
    out
}

/// A member's recent searches, latest first.
pub async fn history(state: &AppState, member: Uuid) -> AppResult<Vec<String>> {
    storage::search_words::history(&state.store, member).await
}

/// Forgets a member's searches.
pub async fn clear_history(state: &AppState, member: Uuid) -> AppResult<u64> {
    storage::search_words::clear_history(&state.store, member).await
}

/// The most searched terms of the last [`HOT_DAYS`] days with their counts (blocked words left
/// out), for head office.
pub async fn top_terms(
    state: &AppState,
    staff: &StaffActor,
    limit: i64,
) -> AppResult<Vec<(String, i64)>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let since = china_day(storage::now_ms()) - (HOT_DAYS - 1);
    storage::search_words::top_terms(&state.store, since, limit.clamp(1, 200)).await
}

/// Head office's pinned and blocked words.
pub async fn words(
    state: &AppState,
    staff: &StaffActor,
) -> AppResult<Vec<storage::search_words::SearchWord>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::search_words::words(&state.store).await
}

/// Head office pins (`pinned`) or blocks (`blocked`) a word (normalised; 422 on `word` or
/// `kind` otherwise; 403 for anyone else); the hot words change at once on this instance, within
/// [`HOT_TTL`] on the others. Audited.
pub async fn set_word(
    state: &AppState,
    staff: &StaffActor,
    word: &str,
    kind: &str,
) -> AppResult<String> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let Some(word) = normalise(word) else {
        return Err(AppError::field(
            "word",
            format!("1 to {MAX_TERM} characters, no control characters"),
        ));
    };
    if !matches!(kind, "pinned" | "blocked") {
        return Err(AppError::field("kind", "pinned or blocked"));
    }
    storage::search_words::set_word(&state.store, &word, kind, &staff.actor()).await?;
    forget_hot(state);
    super::cluster::announce(state, super::cluster::Invalidate::HotWords);
    Ok(word)
}

/// Head office removes a word of theirs (404 when it is none). Audited.
pub async fn remove_word(state: &AppState, staff: &StaffActor, word: &str) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let word = normalise(word).unwrap_or_default();
    storage::search_words::remove_word(&state.store, &word, &staff.actor()).await?;
    forget_hot(state);
    super::cluster::announce(state, super::cluster::Invalidate::HotWords);
    Ok(())
}

/// Drops the hot words read last (the next read asks the database).
pub(crate) fn forget_hot(state: &AppState) {
    if let Ok(mut hot) = state.search_words.hot.lock() {
        *hot = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_normalised() {
        assert_eq!(normalise("  Milk   Tea ").as_deref(), Some("milk tea"));
        assert_eq!(normalise("牛奶").as_deref(), Some("牛奶"));
        assert_eq!(normalise("   "), None);
        assert_eq!(normalise("a\u{7}b"), None);
        assert_eq!(normalise(&"长".repeat(33)), None);
        assert!(normalise(&"长".repeat(32)).is_some());
    }

    #[test]
    fn the_china_day_turns_at_midnight_in_utc_plus_8() {
        // 2026-12-04T15:59:59Z is 23:59:59 in China; a second later it is the next day.
        let before = 1_796_399_999_000_i64;
        assert_eq!(china_day(before) + 1, china_day(before + 1_000));
    }

    #[test]
    fn pinned_words_come_first_without_repeats() {
        let list = hot_list(
            ["鸡蛋", "牛奶"].into_iter(),
            ["牛奶", "苹果", "鸡蛋", "面包"].into_iter(),
        );
        assert_eq!(list, ["鸡蛋", "牛奶", "苹果", "面包"]);
        let many: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
        assert_eq!(
            hot_list(std::iter::empty(), many.iter().map(String::as_str)).len(),
            HOT_WORDS
        );
    }
}
