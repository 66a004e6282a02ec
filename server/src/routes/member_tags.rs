//! Member tags computed by a big-data platform, imported back (head office): the file's bytes
//! as the request body, checked row by row by [`crate::app::export::import_member_tags`].

use axum::extract::{DefaultBodyLimit, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Query};
use crate::actor::{Role, StaffActor};
use crate::app::export::{self as export_app, TagImportReport, MAX_TAG_FILE_BYTES};
use crate::app::AppState;
use crate::error::{AppError, AppResult};

/// Member tag routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import))
        .layer(DefaultBodyLimit::max(MAX_TAG_FILE_BYTES + 1))
}

/// The uploaded file's name (kept in the import log).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's name, for the log (default `upload`).
    pub file_name: Option<String>,
}

/// Imports member tags from a CSV file (header `member,tag,value`) or a Parquet file (string
/// columns `member`, `tag`, `value`), at most 16 MiB and 200,000 rows. `member` is a member id
/// or the member's pseudonym from the export. Every row is checked; the accepted ones are
/// applied in one transaction and the rejected ones answered with their line and reason.
/// Importing the same file again changes nothing (`changed` 0). A file that cannot be read is
/// refused whole (422 `invalid_file`).
#[utoipa::path(post, path = "/member-tags/import", tag = "members", security(("staff" = [])),
    params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "the CSV or Parquet file's bytes"),
    responses((status = 200, body = TagImportReport),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn import(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<ImportQuery>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> AppResult<Json<TagImportReport>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let body = body.map_err(|_| {
        AppError::field_code(
            "invalid_file",
            "file",
            format!(
                "the file could not be read whole (at most {} MiB)",
                MAX_TAG_FILE_BYTES >> 20
            ),
        )
    })?;
    let name = q.file_name.as_deref().unwrap_or("upload");
    Ok(Json(
        export_app::import_member_tags(&state, &staff.username, name, body).await?,
    ))
}
