//! The one API error type: a stable machine code, a human message and optional field errors,
//! rendered as `{"error": {"code", "message", "fields"}}` with the right status. Internal errors
//! are logged with their cause and shown to the client only as "internal error".

use std::collections::BTreeMap;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Result alias for handlers, services and storage.
pub type AppResult<T> = Result<T, AppError>;

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed or fails validation (422 with field errors, 400 otherwise).
    #[error("{message}")]
    Invalid {
        /// Stable machine code.
        code: &'static str,
        /// Human message.
        message: String,
        /// Per-field messages.
        fields: BTreeMap<String, String>,
    },
    /// No or bad credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict {
        /// Stable machine code, e.g. `out_of_stock`, `already_paid`.
        code: &'static str,
        /// Human message.
        message: String,
    },
    /// Too many attempts (429, with `Retry-After`).
    #[error("too many requests, try again in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the caller may try again (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// The server is shutting down or overloaded (503, with `Retry-After`).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an infrastructure failure; logged, never shown (500).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// A 422 naming one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::field_code("validation_failed", field, message)
    }

    /// A 422 naming one field, with its own machine code (e.g. `forged_receipt_code`).
    pub fn field_code(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Invalid {
            code,
            message: format!("{field}: {message}"),
            fields: BTreeMap::from([(field.to_owned(), message)]),
        }
    }

    /// A 409 with a code and message.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A 404 for the named thing.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { fields, .. } if !fields.is_empty() => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds a client should wait before trying again, sent as `Retry-After` on 429 and 503.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
            Self::Unavailable(_) => Some(1),
            _ => None,
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error inside [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code.
    pub code: String,
    /// Human message.
    pub message: String,
    /// Field name → message, for validation errors.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code().to_owned();
        let retry_after = self.retry_after_secs();
        let message = match &self {
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let fields = match self {
            Self::Invalid { fields, .. } => fields,
            _ => BTreeMap::new(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                fields,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<sqlx::Error> for AppError {
    /// A database that is busy, overloaded or briefly unreachable is a 503 with `Retry-After`
    /// (logged here, since the answer does not carry the cause); text the database cannot store
    /// (PostgreSQL refuses NUL characters, SQLSTATE 22021; the API's extractors refuse them
    /// first) is a 400 `invalid_text`; anything else is a bug or a broken database: an
    /// internal error.
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.code().as_deref() == Some("22021") {
                return Self::bad_request("invalid_text", "text must not contain NUL characters");
            }
        }
        if is_transient(&err) {
            tracing::warn!(error = %err, "database busy or unavailable: answering 503");
            metrics::counter!("db_transient_errors_total").increment(1);
            Self::Unavailable("the database is busy, please retry".into())
        } else {
            Self::Internal(anyhow::Error::new(err).context("database"))
        }
    }
}

/// True when a database error is worth retrying later: the pool timed out or is closed, the
/// connection broke, SQLite is busy or locked, or PostgreSQL refused for load or ordering
/// (serialization failure, deadlock, lock not available, too many connections, shutting down,
/// statement cancelled).
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => is_transient_code(db.code().as_deref(), db.message()),
        _ => false,
    }
}

/// [`is_transient`] for a database error's code and message: SQLite's primary result codes
/// 5 (`SQLITE_BUSY`) and 6 (`SQLITE_LOCKED`) with their extended codes (the low byte), and
/// PostgreSQL's SQLSTATEs of classes 08 (connection), 53 (insufficient resources) and 57P
/// (operator intervention), 40001 (serialization failure), 40P01 (deadlock), 55P03 (lock not
/// available) and 57014 (query cancelled, e.g. a statement timeout).
pub fn is_transient_code(code: Option<&str>, message: &str) -> bool {
    if let Some(code) = code {
        if let Ok(n) = code.parse::<i64>() {
            // SQLite (numeric codes); PostgreSQL's numeric SQLSTATEs are not busy codes.
            if code.len() < 5 && matches!(n & 0xff, 5 | 6) {
                return true;
            }
        }
        if code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || matches!(code, "40001" | "40P01" | "55P03" | "57014")
        {
            return true;
        }
    }
    let message = message.to_ascii_lowercase();
    message.contains("database is locked") || message.contains("database table is locked")
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let message = match &rejection {
            JsonRejection::JsonDataError(e) => format!("invalid request body: {}", e.body_text()),
            JsonRejection::JsonSyntaxError(_) => "request body is not valid JSON".to_owned(),
            JsonRejection::MissingJsonContentType(_) => {
                "expected a JSON body with content-type application/json".to_owned()
            }
            other => other.body_text(),
        };
        Self::bad_request("invalid_body", message)
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request("invalid_path", rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_overloaded_databases_are_transient() {
        // SQLite: BUSY, LOCKED and their extended codes (BUSY_RECOVERY 261, BUSY_SNAPSHOT 517,
        // BUSY_TIMEOUT 773, LOCKED_SHAREDCACHE 262).
        for code in ["5", "6", "261", "517", "773", "262"] {
            assert!(is_transient_code(Some(code), "x"), "{code}");
        }
        assert!(is_transient_code(None, "database is locked"));
        // PostgreSQL: serialization failure, deadlock, lock timeout, too many connections,
        // out of memory/disk, shutting down, cannot connect now, connection failure,
        // statement timeout.
        for code in [
            "40001", "40P01", "55P03", "53300", "53200", "53100", "57P01", "57P03", "08006",
            "57014",
        ] {
            assert!(is_transient_code(Some(code), "x"), "{code}");
        }
        // Not transient: constraint violations and syntax errors on either backend.
        for code in [
            "2067", "1555", "19", "1", "23505", "23503", "42601", "42P01", "22P02",
        ] {
            assert!(!is_transient_code(Some(code), "x"), "{code}");
        }
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::PoolClosed));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn a_busy_database_answers_503_with_retry_after_never_500() {
        let err = AppError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.retry_after_secs(), Some(1));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response
            .headers()
            .contains_key(axum::http::header::RETRY_AFTER));
        let bug = AppError::from(sqlx::Error::RowNotFound);
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
