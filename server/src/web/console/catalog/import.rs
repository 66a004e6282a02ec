//! Importing products from a CSV file ([`crate::app::catalog_import`], head office): the upload
//! page and the upload, checked and imported as a background job, and the job's page: it polls
//! `GET /console/catalog/import/{job}/progress` and shows the result when it is done: the
//! errors by line (nothing imported), or how many products were imported. Only the head-office
//! account that started a job may see it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Serialize;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::catalog_import::{ImportJob, LineError, Phase, CATALOG_COLUMNS};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{check_csrf, console_page, redirect, Ctx, Sid, Staff, WebError, WebResult};

/// Import routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console/catalog/import",
            get(import_page)
                .post(import)
                .layer(DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES)),
        )
        .route("/console/catalog/import/{job}", get(page))
        .route("/console/catalog/import/{job}/progress", get(progress))
}

fn import_view(
    ctx: &Ctx,
    staff: &StaffActor,
    errors: &[LineError],
    imported: Option<usize>,
) -> Response {
    let body = html! {
        @if let Some(n) = imported { div.notice.ok role="status" #import-ok { (ctx.t("导入成功：", "Imported: ")) (n) (ctx.t(" 个商品", " products")) } }
        @if !errors.is_empty() {
            div.notice.err role="alert" #import-errors {
                b { (ctx.t("文件有错误，未导入任何商品：", "The file has errors; nothing was imported:")) }
                ul { @for e in errors { li data-line=(e.line) { (ctx.t("第 ", "Line ")) (e.line) (ctx.t(" 行：", ": ")) (e.message) } } }
            }
        }
        form.card method="post" action="/console/catalog/import" enctype="multipart/form-data" {
            (ctx.csrf_field())
            input type="hidden" name="job" value=(retail_domain::ids::new_id());
            div.field {
                label for="file" { (ctx.t("CSV 文件（UTF-8，每行一个 SKU，最大 ", "CSV file (UTF-8, one line per SKU, at most ")) (MAX_IMPORT_MIB) " MiB" (ctx.t("）", ")")) }
                input #file type="file" name="file" accept=".csv,text/csv" required data-max-bytes=(MAX_IMPORT_BYTES);
            }
            button.btn type="submit" #import-submit { (ctx.t("校验并导入", "Check and import")) }
        }
        div.card {
            p.muted { (ctx.t("第一行必须是表头：", "The first line must be the header:")) }
            code { (CATALOG_COLUMNS.join(",")) }
            p.muted { (ctx.t("同一 product_code 的多行是同一商品的多个 SKU；多个条码用空格分隔。每一行都会校验，任何一行有错则整个文件都不导入。", "Lines with the same product_code are SKUs of one product; separate several barcodes with spaces. Every line is checked; if any line is wrong, nothing is imported.")) }
        }
    };
    console_page(ctx, staff, ctx.t("导入商品", "Import products"), body)
}

async fn import_page(ctx: Ctx, Staff(staff): Staff) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(import_view(&ctx, &staff, &[], None))
}

/// Largest import file (8 MiB): the page says so, and the route's body limit is this plus
/// [`FORM_OVERHEAD_BYTES`].
pub const MAX_IMPORT_BYTES: usize = 8 << 20;

/// [`MAX_IMPORT_BYTES`] in MiB, as the page shows it.
const MAX_IMPORT_MIB: usize = MAX_IMPORT_BYTES >> 20;

/// Room for the rest of the upload form (CSRF token, job id, multipart boundaries and headers).
const FORM_OVERHEAD_BYTES: usize = 64 << 10;

/// The body limit of `POST /console/catalog/import`.
const MAX_IMPORT_BODY_BYTES: usize = MAX_IMPORT_BYTES + FORM_OVERHEAD_BYTES;

/// An oversize upload is read to its end (and thrown away) up to this much, so the browser
/// finishes sending and reads the 413 page instead of seeing its connection reset; a larger
/// one (or one announcing a larger `Content-Length`) gets the 413 at once.
const MAX_DRAINED_BYTES: usize = 64 << 20;

/// The upload's body, or `None` when it is larger than `limit` (the rest read and dropped,
/// see [`MAX_DRAINED_BYTES`]); `Err` when the connection fails while reading.
async fn read_capped(mut body: Body, limit: usize) -> Result<Option<Bytes>, axum::Error> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > limit.saturating_add(MAX_DRAINED_BYTES) {
            return Ok(None);
        } else {
            kept = Vec::new();
        }
    }
    Ok((seen <= limit).then(|| Bytes::from(kept)))
}

/// The answer to an upload over the limit: 413 with the page saying what the limit is.
fn too_large(ctx: &Ctx, staff: &StaffActor) -> Response {
    let message = format!(
        "{}{MAX_IMPORT_MIB} MiB",
        ctx.t("文件超过上限 ", "The file is larger than ")
    );
    let page = import_view(ctx, staff, &[LineError { line: 0, message }], None);
    (StatusCode::PAYLOAD_TOO_LARGE, page).into_response()
}

async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    axum::Extension(sid): axum::Extension<Sid>,
    request: Request,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let (parts, body) = request.into_parts();
    let announced = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|n| n > MAX_IMPORT_BODY_BYTES + MAX_DRAINED_BYTES) {
        return Ok(too_large(&ctx, &staff));
    }
    let Some(body) = read_capped(body, MAX_IMPORT_BODY_BYTES)
        .await
        .map_err(|_| AppError::bad_request("invalid_form", "the upload could not be read"))?
    else {
        return Ok(too_large(&ctx, &staff));
    };
    let mut multipart =
        Multipart::from_request(Request::from_parts(parts, Body::from(body)), &state)
            .await
            .map_err(|_| AppError::bad_request("invalid_form", "the upload is not a form"))?;
    let mut csrf = None;
    let mut job = None;
    let mut file: Option<Vec<u8>> = None;
    let bad = || {
        WebError::App(AppError::bad_request(
            "invalid_form",
            "the upload could not be read",
        ))
    };
    while let Some(part) = multipart.next_field().await.map_err(|_| bad())? {
        match part.name() {
            Some("_csrf") => csrf = Some(part.text().await.map_err(|_| bad())?),
            Some("job") => job = Some(part.text().await.map_err(|_| bad())?),
            Some("file") => {
                let bytes = part.bytes().await.map_err(|_| bad())?;
                if bytes.len() > MAX_IMPORT_BYTES {
                    return Ok(too_large(&ctx, &staff));
                }
                file = Some(bytes.to_vec());
            }
            _ => {}
        }
    }
    check_csrf(&state, &sid.0, csrf.as_deref())?;
    let Some(job) = job
        .as_deref()
        .and_then(|j| Uuid::parse_str(j.trim()).ok())
        .filter(|j| retail_domain::ids::require_v7(*j).is_ok())
    else {
        return Err(bad());
    };
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return Ok(import_view(
            &ctx,
            &staff,
            &[LineError {
                line: 0,
                message: ctx.t("请选择文件", "Choose a file").into(),
            }],
            None,
        ));
    };
    // Checked and imported in the background; the job's page shows the progress (a resent
    // form with the same job id finds the job already started).
    crate::app::catalog_import::start(&state, job, &staff.actor(), bytes).await?;
    Ok(redirect(&format!("/console/catalog/import/{job}")))
}

/// The job, if it exists and belongs to this staff member.
async fn own_job(state: &AppState, staff: &StaffActor, id: Uuid) -> WebResult<Arc<ImportJob>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    crate::app::catalog_import::job(state, id)
        .await?
        .filter(|j| j.owner == staff.actor())
        .ok_or_else(|| AppError::not_found("no such import").into())
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let job = own_job(&state, &staff, id).await?;
    Ok(match job.phase() {
        Phase::Imported(n) => import_view(&ctx, &staff, &[], Some(n)),
        Phase::Refused(errors) => import_view(&ctx, &staff, &errors, None),
        phase => {
            let (done, total) = (
                job.done.load(Ordering::Relaxed),
                job.total.load(Ordering::Relaxed),
            );
            let body = html! {
                div.card #import-job data-poll={ "/console/catalog/import/" (id) "/progress" } {
                    p #import-phase data-importing=(ctx.t("正在导入…", "Importing…")) { @match phase {
                        Phase::Checking => (ctx.t("正在逐行校验…", "Checking every line…")),
                        _ => (ctx.t("正在导入…", "Importing…")),
                    } }
                    // Until every line is checked the count is not known: the bar just moves.
                    @if total > 0 {
                        progress #import-progress max=(total) value=(done) style="width:100%" {}
                    } @else {
                        progress #import-progress style="width:100%" {}
                    }
                    p.muted #import-count hidden[total == 0] { span #import-done { (done) } " / " span #import-total { (total) }
                        (ctx.t(" 个商品。", " products. ")) }
                    p.muted { (ctx.t("全部成功才会生效，可离开此页稍后回来。", "Nothing takes effect unless all of them do; you may leave and come back.")) }
                }
            };
            console_page(&ctx, &staff, ctx.t("导入商品", "Import products"), body)
        }
    })
}

/// A job's progress, for the page's script.
#[derive(Debug, Serialize)]
struct Progress {
    /// `checking`, `importing` or `finished`.
    phase: &'static str,
    /// Products written so far.
    done: usize,
    /// Products to write (known once every line is checked).
    total: usize,
}

async fn progress(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let job = own_job(&state, &staff, id).await?;
    let phase = match job.phase() {
        Phase::Checking => "checking",
        Phase::Importing => "importing",
        Phase::Imported(_) | Phase::Refused(_) => "finished",
    };
    Ok(axum::Json(Progress {
        phase,
        done: job.done.load(Ordering::Relaxed),
        total: job.total.load(Ordering::Relaxed),
    })
    .into_response())
}
