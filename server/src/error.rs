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
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("database"))
    }
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
