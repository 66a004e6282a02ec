//! The console's page of a catalog import job ([`crate::app::catalog_import`]): it polls
//! `GET /console/catalog/import/{job}/progress` and shows the result when it is done: the
//! errors by line (nothing imported), or how many products were imported. Only the head-office
//! account that started a job may see it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Serialize;
use uuid::Uuid;

use super::console::import_view;
use super::{console_page, Ctx, Staff, WebResult};
use crate::actor::Role;
use crate::app::catalog_import::{ImportJob, Phase};
use crate::app::AppState;
use crate::error::AppError;

/// Import job routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/catalog/import/{job}", get(page))
        .route("/console/catalog/import/{job}/progress", get(progress))
}

/// The job, if it exists and belongs to this staff member.
fn own_job(
    state: &AppState,
    staff: &crate::actor::StaffActor,
    id: Uuid,
) -> WebResult<Arc<ImportJob>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    state
        .imports
        .get(id)
        .filter(|j| j.owner == staff.actor())
        .ok_or_else(|| AppError::not_found("no such import").into())
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let job = own_job(&state, &staff, id)?;
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
    let job = own_job(&state, &staff, id)?;
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
