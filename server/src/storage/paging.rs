//! Keyset paging shared by every list (issue 16): a list is ordered by a sort key with the row's
//! unique id as tiebreaker, e.g. `(created_at, id)` newest first, and a page starts after the
//! last row of the previous one. Rows written meanwhile never shift a page, and nothing stops at
//! a fixed row count.
//!
//! A [`Cursor`] is that last row's `(key, id)`, handed to clients as an opaque URL-safe string
//! ([`Cursor::encode`]); a string that is not one is refused with a 400 `bad_cursor`
//! ([`Cursor::decode`]), never a panic. A storage function builds its condition with [`after`],
//! binds the cursor with [`bind`], asks for one row more than the page (`LIMIT limit + 1`, see
//! [`fetch_limit`]) and cuts the rows into a [`Page`] with [`page`], whose `next_cursor` is set
//! only when another row follows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;
use utoipa::ToSchema;

use crate::error::{AppError, AppResult};

/// Rows on one page of a list in the console or the shop.
pub const PAGE_SIZE: i64 = 50;

/// The most rows an API client may ask for on one page (`limit`).
pub const MAX_API_LIMIT: i64 = 200;

/// The page size of an API list: the client's `limit` (default [`PAGE_SIZE`]) kept within 1 and
/// [`MAX_API_LIMIT`].
pub fn api_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(PAGE_SIZE).clamp(1, MAX_API_LIMIT)
}

/// The longest cursor read; anything longer is not one of ours.
const MAX_CURSOR_LEN: usize = 512;

/// A page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of these rows, the last one.
    pub fn last(items: Vec<T>) -> Self {
        Self {
            items,
            next_cursor: None,
        }
    }
}

/// A list's sort key: a number (a time in ms, an amount) or a text (a code).
pub trait SortKey: Sized + Clone + Send + Sync + 'static {
    /// The key as JSON, inside an encoded cursor.
    fn to_json(&self) -> Value;
    /// The key read back from JSON; `None` when it is not one.
    fn from_json(value: &Value) -> Option<Self>;
}

impl SortKey for i64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }

    fn from_json(value: &Value) -> Option<Self> {
        value.as_i64()
    }
}

impl SortKey for String {
    fn to_json(&self) -> Value {
        Value::from(self.as_str())
    }

    fn from_json(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
}

/// Where the next page starts: the sort key and the unique id of the last row shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor<K = i64> {
    /// The last row's sort key.
    pub key: K,
    /// The last row's id (the tiebreaker among equal keys).
    pub id: String,
}

impl<K: SortKey> Cursor<K> {
    /// The cursor after the row with this key and id.
    pub fn new(key: K, id: impl ToString) -> Self {
        Self {
            key,
            id: id.to_string(),
        }
    }

    /// The opaque, URL-safe text of this cursor.
    pub fn encode(&self) -> String {
        let json = Value::Array(vec![self.key.to_json(), Value::from(self.id.as_str())]);
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// Reads a cursor made by [`Cursor::encode`]; a 400 `bad_cursor` when the text is not one
    /// (for this list's kind of key).
    pub fn decode(text: &str) -> AppResult<Self> {
        let bad = bad_cursor;
        if text.len() > MAX_CURSOR_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        match value.as_array().map(Vec::as_slice) {
            Some([key, Value::String(id)]) if !id.is_empty() => Ok(Self {
                key: K::from_json(key).ok_or_else(bad)?,
                id: id.clone(),
            }),
            _ => Err(bad()),
        }
    }

    /// A cursor from a query string: none when absent or empty, else [`Cursor::decode`].
    pub fn parse(text: Option<&str>) -> AppResult<Option<Self>> {
        text.map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Self::decode)
            .transpose()
    }

    /// The position as the `(key, id)` pair a storage filter's `after` takes, with the id
    /// parsed as a UUID; a 400 `bad_cursor` when it is not one.
    pub fn uuid_pair(&self) -> AppResult<(K, uuid::Uuid)> {
        let id = self.id.parse().map_err(|_| bad_cursor())?;
        Ok((self.key.clone(), id))
    }
}

/// A cursor from a query string as the `(key, UUID)` pair of a storage filter's `after` (see
/// [`Cursor::parse`] and [`Cursor::uuid_pair`]).
pub fn uuid_after<K: SortKey>(text: Option<&str>) -> AppResult<Option<(K, uuid::Uuid)>> {
    Cursor::<K>::parse(text)?.map(|c| c.uuid_pair()).transpose()
}

/// The machine code of a malformed cursor (a 400).
pub const BAD_CURSOR: &str = "bad_cursor";

/// The error of a malformed cursor: a 400 `bad_cursor`.
pub fn bad_cursor() -> AppError {
    AppError::bad_request(
        BAD_CURSOR,
        "the page cursor is not valid; go back to the first page",
    )
}

/// Which way a list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Largest key first (newest first for times): `ORDER BY key DESC, id DESC`.
    Desc,
    /// Smallest key first: `ORDER BY key, id`.
    Asc,
}

/// The SQL condition "after the cursor" on `key_col` and `id_col` in `order`, with the cursor's
/// key at `$p` and its id at `$p+1` (bound by [`bind`]; both NULL on the first page, when the
/// condition holds for every row).
pub fn after(key_col: &str, id_col: &str, p: usize, order: Order) -> String {
    let q = p + 1;
    let cmp = match order {
        Order::Desc => "<",
        Order::Asc => ">",
    };
    format!("(${p} IS NULL OR {key_col} {cmp} ${p} OR ({key_col} = ${p} AND {id_col} {cmp} ${q}))")
}

/// The `ORDER BY` clause matching [`after`].
pub fn order_by(key_col: &str, id_col: &str, order: Order) -> String {
    match order {
        Order::Desc => format!("ORDER BY {key_col} DESC, {id_col} DESC"),
        Order::Asc => format!("ORDER BY {key_col}, {id_col}"),
    }
}

/// Binds the cursor's key and id (the two placeholders of [`after`]).
pub fn bind<'q, K>(
    query: Query<'q, Any, AnyArguments<'q>>,
    cursor: Option<&Cursor<K>>,
) -> Query<'q, Any, AnyArguments<'q>>
where
    K: SortKey + sqlx::Encode<'q, Any> + sqlx::Type<Any>,
{
    query
        .bind(cursor.map(|c| c.key.clone()))
        .bind(cursor.map(|c| c.id.clone()))
}

/// The `LIMIT` to ask for a page of `limit` rows: one more, to know whether another page
/// follows. `limit` is at least 1.
pub fn fetch_limit(limit: i64) -> i64 {
    limit.max(1).saturating_add(1)
}

/// The page of `rows` (fetched with [`fetch_limit`]): at most `limit` of them, with the cursor
/// after the last one (from `key`) when more rows followed.
pub fn page<T, K: SortKey>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor<K>) -> Page<T> {
    let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return Page::last(rows);
    }
    rows.truncate(limit);
    let next_cursor = rows.last().map(|last| key(last).encode());
    Page {
        items: rows,
        next_cursor,
    }
}

/// Runs `query` on `pool` — its filters and `LIMIT` ([`fetch_limit`]) bound, the two
/// placeholders of [`after`] last — from `cursor`, and cuts the rows into the page of `limit`,
/// each read by `row` with the cursor after it.
pub async fn fetch<'q, K, T>(
    pool: &sqlx::AnyPool,
    query: Query<'q, Any, AnyArguments<'q>>,
    cursor: Option<&Cursor<K>>,
    limit: i64,
    row: impl Fn(&sqlx::any::AnyRow) -> AppResult<(Cursor<K>, T)>,
) -> AppResult<Page<T>>
where
    K: SortKey + sqlx::Encode<'q, Any> + sqlx::Type<Any>,
{
    let rows = bind(query, cursor).fetch_all(pool).await?;
    let rows = rows.iter().map(row).collect::<AppResult<Vec<_>>>()?;
    Ok(page_keyed(rows, limit))
}

/// The page of `rows` each carried with its cursor (for a list whose sort key is not a field of
/// its rows), as [`page`] cuts them.
pub fn page_keyed<T, K: SortKey>(rows: Vec<(Cursor<K>, T)>, limit: i64) -> Page<T> {
    let cut = page(rows, limit, |(at, _)| at.clone());
    Page {
        items: cut.items.into_iter().map(|(_, row)| row).collect(),
        next_cursor: cut.next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let id = uuid::Uuid::now_v7();
        let at = Cursor::new(1_700_000_000_123_i64, id);
        let text = at.encode();
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::<i64>::decode(&text).ok(), Some(at.clone()));
        assert_eq!(Cursor::<i64>::parse(Some(&text)).ok(), Some(Some(at)));
        let code = Cursor::new("SH001 \"x\"|/".to_owned(), "SKU-1");
        assert_eq!(Cursor::<String>::decode(&code.encode()).ok(), Some(code));
        assert_eq!(Cursor::<i64>::parse(None).ok(), Some(None));
        assert_eq!(Cursor::<i64>::parse(Some(" ")).ok(), Some(None));
        let pair = uuid_after::<i64>(Some(&Cursor::new(5, id).encode())).ok();
        assert_eq!(pair, Some(Some((5, id))));
        assert!(uuid_after::<i64>(Some(&Cursor::new(5, "SKU-1").encode())).is_err());
    }

    #[test]
    fn bad_cursors_are_400() {
        let text_key = Cursor::new("SH001".to_owned(), "x").encode();
        let no_id = URL_SAFE_NO_PAD.encode("[1,\"\"]");
        let three = URL_SAFE_NO_PAD.encode("[1,\"a\",2]");
        let long = "A".repeat(MAX_CURSOR_LEN + 1);
        for bad in [
            "x", "!!!", "123.abc", &text_key, &no_id, &three, &long, "%00",
        ] {
            match Cursor::<i64>::decode(bad) {
                Err(e) => {
                    assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
                    assert_eq!(e.code(), BAD_CURSOR);
                }
                Ok(c) => panic!("{bad} decoded as {c:?}"),
            }
        }
    }

    #[test]
    fn pages_cut_one_past_the_limit() {
        let key = |n: &i64| Cursor::new(*n, n);
        let whole = page((0..3).collect(), 3, key);
        assert_eq!((whole.items.len(), whole.next_cursor), (3, None));
        let cut = page((0..4).collect(), 3, key);
        assert_eq!(cut.items, vec![0, 1, 2]);
        let next = cut.next_cursor.map(|c| Cursor::<i64>::decode(&c).ok());
        assert_eq!(next, Some(Some(Cursor::new(2, "2"))));
        assert_eq!(fetch_limit(0), 2);
        assert_eq!(fetch_limit(50), 51);
        let keyed = page_keyed(
            (0..4).map(|n: i64| (Cursor::new(n, n), n * 10)).collect(),
            3,
        );
        assert_eq!(keyed.items, vec![0, 10, 20]);
        assert_eq!(keyed.next_cursor, Some(Cursor::new(2, "2").encode()));
        assert_eq!(
            (api_limit(None), api_limit(Some(0)), api_limit(Some(1_000))),
            (50, 1, 200)
        );
    }

    #[test]
    fn conditions_match_their_order() {
        assert_eq!(
            after("created_at", "id", 3, Order::Desc),
            "($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4))"
        );
        assert_eq!(
            after("code", "id", 1, Order::Asc),
            "($1 IS NULL OR code > $1 OR (code = $1 AND id > $2))"
        );
        assert_eq!(
            order_by("created_at", "id", Order::Desc),
            "ORDER BY created_at DESC, id DESC"
        );
    }
}
