//! Search words: the hot words the shop's search box offers (anyone), and head office's pinned
//! and blocked words ([`crate::app::search_words`]).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Path};
use crate::actor::StaffActor;
use crate::app::search_words as words_app;
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::search_words::SearchWord;

/// Search word routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(hot))
        .routes(routes!(words))
        .routes(routes!(set_word, remove_word))
}

/// The hot words.
#[derive(Debug, Serialize, ToSchema)]
pub struct HotWords {
    /// Pinned words first, then the most searched of the last seven days (at most ten).
    pub words: Vec<String>,
}

/// The hot words the shop's search box offers (read at most once a minute).
#[utoipa::path(get, path = "/search/hot", tag = "catalog",
    responses((status = 200, body = HotWords)))]
async fn hot(State(state): State<AppState>) -> AppResult<Json<HotWords>> {
    Ok(Json(HotWords {
        words: words_app::hot(&state).await?.as_ref().clone(),
    }))
}

/// Head office's pinned and blocked words (head office).
#[utoipa::path(get, path = "/search/words", tag = "catalog", security(("staff" = [])),
    responses((status = 200, body = [SearchWord]), (status = 403, body = crate::error::ErrorBody)))]
async fn words(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<Vec<SearchWord>>> {
    Ok(Json(words_app::words(&state, &staff).await?))
}

/// How a word is set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetWord {
    /// `pinned` (first among the hot words) or `blocked` (never one of them).
    pub kind: String,
}

/// Pins or blocks a word (head office; idempotent; audited). The word is normalised
/// (trimmed, lower-cased, inner spaces collapsed).
#[utoipa::path(put, path = "/search/words/{word}", tag = "catalog", security(("staff" = [])),
    params(("word" = String, Path, description = "the word")), request_body = SetWord,
    responses((status = 200, body = [SearchWord]), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn set_word(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(word): Path<String>,
    Json(req): Json<SetWord>,
) -> AppResult<Json<Vec<SearchWord>>> {
    words_app::set_word(&state, &staff, &word, &req.kind).await?;
    Ok(Json(words_app::words(&state, &staff).await?))
}

/// Removes a pinned or blocked word (head office; audited); 404 when it is neither.
#[utoipa::path(delete, path = "/search/words/{word}", tag = "catalog", security(("staff" = [])),
    params(("word" = String, Path, description = "the word")),
    responses((status = 200, body = [SearchWord]), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_word(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(word): Path<String>,
) -> AppResult<Json<Vec<SearchWord>>> {
    words_app::remove_word(&state, &staff, &word).await?;
    Ok(Json(words_app::words(&state, &staff).await?))
}
